"""`coldrec train --deploy` on plain CSV input whose catalogue has items no interaction names:
the choices, the refit's bundle with every item, and the service serving the projected ones."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from plain_files import N_UNSEEN, unseen_ids, write_catalogue_shop
from service_bundle import service_settings
from tiny_config import TINY

from bundle.format import BundleError
from bundle.reader import load_bundle
from bundle.writer import write_bundle
from coldrec.cli import main
from models.projection import project_features as project
from service.main import create_app
from training.data.dataset import Dataset

TIMINGS = ("seconds", "peak_rss", "threads")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Dataset]:
    """interactions.csv, items.csv (ids only) and items.<modality>.npy of a catalogue shop."""
    d = tmp_path_factory.mktemp("shop")
    return d, write_catalogue_shop(d)


def _train(data: Path, out: Path, *extra: str) -> dict:
    torch.set_num_threads(1)
    settings = [f"--set={k}={v}" for k, v in TINY.items()]
    argv = ["train", "--data", str(data), "--model", "lightgcn", "--out", str(out), "--quiet"]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*argv, *settings, "--set=train.threads=1", *extra]) == 0
    summary: dict = json.loads(stdout.getvalue())
    return summary


@pytest.fixture(scope="module")
def deployed(shop: tuple[Path, Dataset], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    run = tmp_path_factory.mktemp("deploy")
    summary = _train(shop[0], run, "--deploy")
    return run, summary, json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def evaluated(shop: tuple[Path, Dataset], tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("plain")
    _train(shop[0], run)
    return run


def test_the_bundle_holds_every_item_the_unseen_ones_projected(shop, deployed) -> None:
    _, ds = shop
    run, summary, _ = deployed
    bundle = load_bundle(run)
    assert bundle.manifest.format_version == 3
    assert bundle.item_ids.ids == ds.item_ids.ids  # every item of items.csv, in its order
    projected = set(bundle.item_ids.externals(bundle.projected))
    assert projected == unseen_ids(ds) and len(projected) >= N_UNSEEN
    # their rows are the bundle projector's output for their features, as a registration's
    rows = bundle.projected
    feats = {name: f[rows] for name, f in ds.modalities.items()}
    assert bundle.projector is not None
    np.testing.assert_allclose(bundle.items[rows], project(bundle.projector, feats), atol=1e-5)
    # the refit trained on every interaction: each user's seen items are all of theirs
    pairs = np.unique(ds.users * ds.n_items + ds.items)
    assert len(bundle.seen_indices) == len(pairs)
    assert not np.isin(bundle.seen_indices, rows).any()
    assert summary["deploy"]["n_items"] == ds.n_items
    assert summary["deploy"]["n_projected"] == len(projected)


def test_the_refit_uses_the_evaluation_runs_choices(shop, deployed) -> None:
    _, ds = shop
    _, summary, metrics = deployed
    deploy = metrics["deploy"]
    assert deploy["backbone_epochs"] == metrics["best_epoch"] == deploy["refit"]["epochs_run"]
    assert deploy["projector_epochs"] == metrics["projector"]["best_epoch"] >= 1
    assert deploy["scale_multiplier"] == metrics["projector"]["scale_multiplier"]
    assert deploy["refit"]["interactions"] == ds.n_interactions
    assert deploy["refit"]["items_trained"] == len(np.unique(ds.items))
    assert deploy["n_left_out"] == 0 and deploy["refit_seconds"] > 0
    assert "validation" in deploy["chosen_on"]
    assert summary["deploy"]["backbone_epochs"] == metrics["best_epoch"]


def _untimed(x: object) -> object:
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if not any(t in k for t in TIMINGS)}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


def test_metrics_are_the_evaluation_runs_and_a_plain_run_is_unchanged(
    shop, deployed, evaluated: Path
) -> None:
    run, _, metrics = deployed
    plain = json.loads((evaluated / "metrics.json").read_text())
    assert "deploy" not in plain
    assert _untimed({k: v for k, v in metrics.items() if k != "deploy"}) == _untimed(plain)
    for name in ("split.npz", "embeddings.npz", "config.json"):  # the evaluation run's, too
        assert (run / name).read_bytes() == (evaluated / name).read_bytes()
    # the plain run's bundle: its trained items and, projected, the catalogue-only ones
    plain_bundle = load_bundle(evaluated)
    assert plain_bundle.manifest.format_version == 3
    projected = plain_bundle.item_ids.externals(plain_bundle.projected)
    assert set(projected) == unseen_ids(shop[1])
    assert plain["catalogue_only_items"] == len(projected)


def test_the_service_serves_projected_items_as_cold(
    shop, deployed, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    _, ds = shop
    run = deployed[0]
    unseen = unseen_ids(ds)
    settings = service_settings(run, redis_url_or_none, tmp_path)
    with TestClient(create_app(settings)) as client:
        user = ds.user_ids.external(0)
        r = client.get(f"/users/{user}/recommendations", params={"k": 5, "pool": "cold"})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert len(items) == 5 and all(i["cold"] and i["item_id"] in unseen for i in items)
        warm = client.get(f"/users/{user}/recommendations", params={"k": 50, "pool": "warm"})
        assert not {i["item_id"] for i in warm.json()["items"]} & unseen
        got = client.get(f"/items/{items[0]['item_id']}").json()
        assert (got["kind"], got["source"]) == ("cold", "bundle")
        body = client.post(
            "/interactions", json={"user_id": user, "item_id": items[0]["item_id"]}
        ).json()
        assert body["interactions"][0]["hit"] and body["interactions"][0]["cold"]
        text = client.get("/metrics").text
        assert 'coldrec_hits_total{kind="cold",variant="control"} 1.0' in text
        assert f'coldrec_index_items{{kind="cold"}} {float(len(unseen))}' in text


def test_a_deploy_without_cold_validation_items_is_refused(
    shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(shop[0]), "--model", "lightgcn", "--out", str(tmp_path)]
    assert main([*argv, "--deploy", "--cold-fraction", "0"]) == 2
    assert "cold validation items" in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()


def test_the_help_says_it_trains_twice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--deploy train twice" in " ".join(capsys.readouterr().out.split())


def test_the_reader_checks_the_projected_rows(deployed, tmp_path: Path) -> None:
    copy = shutil.copytree(deployed[0] / "bundle", tmp_path / "bundle")
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"]["projected.npy"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="projected.npy"):
        load_bundle(copy)
    users, items = np.ones((2, 4), np.float32), np.ones((3, 4), np.float32)
    args = dict(users=users, items=items, user_ids=["a", "b"], item_ids=["x", "y", "z"])
    common = dict(seen=(np.zeros(3, np.int64), np.zeros(0, np.int64)), model="m", dataset="d")
    with pytest.raises(ValueError, match="projector"):
        write_bundle(tmp_path / "b", **args, **common, projector=None, modal_dims={}, projected=[1])
