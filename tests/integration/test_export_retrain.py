"""Close the loop (issue 14 items 1-2): train `--deploy`, serve, register items by text, post
interactions on them, `coldrec export` (while the service holds its embedded Redis), retrain
`--deploy` on the export: the items that got interactions are trained rows of the new bundle
(not in projected.npy) and a fresh service serves them `kind: warm`.

Real `coldrec train` and `coldrec export` processes on a small `synthetic:words` shop; the
service in process (`create_app`, MiniLM for the raw text, the embedded Redis beside the run).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, coldrec_command
from fastapi.testclient import TestClient

from bundle.reader import load_bundle
from service.main import create_app
from service.settings import Settings

SPEC = "synthetic:words,n_users=200,n_items=240,seed=1"
NEW = {
    "sourdough-kit": "Sourdough starter kit with a proofing basket, rye flour and a bread lame",
    "arcade-stick": "Retro arcade stick for co-op boss battles and speedruns",
    "quiet-item": "Enamel camping mug for the trail",  # registered, never interacted with
}


def _coldrec(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [*coldrec_command(), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _train(data: str, run: Path, env: dict[str, str]) -> None:
    small = ["--epochs", "4", "--set", "model.dim=16", "--set", "train.projector_epochs=4"]
    _coldrec(["train", "--data", data, "--model", "lightgcn", "--out", str(run), *small,
              "--deploy", "--quiet"], env)  # fmt: skip


def test_items_registered_and_taken_online_are_warm_after_export_and_retrain(
    tmp_path: Path,
) -> None:
    pytest.importorskip("sentence_transformers")
    env = {"COLDREC_CACHE_DIR": str(tmp_path / "cache")}
    run1, export, run2 = tmp_path / "run1", tmp_path / "export", tmp_path / "run2"
    _train(SPEC, run1, env)

    with TestClient(create_app(Settings(bundle=run1))) as client:  # state: run1/state/redis.db
        items = [{"id": i, "text": t} for i, t in NEW.items()]
        assert client.post("/items", json={"items": items}).status_code == 201
        posted = [
            {"user_id": f"u{u}", "item_id": "sourdough-kit" if u % 2 else "arcade-stick",
             "event": "purchase"}
            for u in range(40)
        ]  # fmt: skip
        assert client.post("/interactions", json={"interactions": posted}).status_code == 201
        assert client.delete("/items/i5").status_code == 204
        assert client.get("/items/sourdough-kit").json()["kind"] == "cold"
        # exported while the service holds its embedded Redis: read through its socket
        summary = json.loads(_coldrec(["export", "--bundle", str(run1), "--out", str(export),
                                       "--quiet"], env))  # fmt: skip
        assert client.get("/readyz").status_code == 200  # the export left its Redis running
    assert summary["items"] == {"data": 239, "registered": 3}
    assert summary["interactions"]["online"] == 40

    _train(str(export), run2, env)
    old, new = load_bundle(run1), load_bundle(run2)
    assert new.manifest.dataset == old.manifest.dataset  # the live state stays this run's
    projected = set(new.item_ids.externals(new.projected))
    for item_id in ("sourdough-kit", "arcade-stick"):
        assert item_id in new.item_ids and item_id not in projected  # trained rows
    assert projected == {"quiet-item"} and "i5" not in new.item_ids
    taker = new.user_ids.index("u1")
    assert new.item_ids.index("sourdough-kit") in set(new.seen(taker).tolist())

    with TestClient(create_app(Settings(bundle=run2))) as client:
        for item_id in ("sourdough-kit", "arcade-stick"):
            view = client.get(f"/items/{item_id}").json()
            assert view["kind"] == "warm" and view["source"] == "bundle", view
        assert client.get("/items/quiet-item").json()["kind"] == "cold"
        recs = client.get("/users/u2/recommendations", params={"k": 5, "pool": "all"}).json()
        assert "arcade-stick" not in [r["item_id"] for r in recs["items"]]  # u2 has it: seen
    assert np.isfinite(new.items).all()
