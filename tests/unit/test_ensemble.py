"""`coldrec ensemble`: two runs on one split, alpha chosen on validation, a run report can read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_config import SMALL_GRAPH_MODELS, tiny_config

from coldrec.cli import main
from training.config import RunConfig
from training.data.synthetic import synthetic_dataset
from training.evaluation.ranking import evaluate_tracks
from training.export import write_run
from training.fitting.ensemble import EnsembleError, Member, combine, ensemble
from training.fitting.trainer import train
from training.protocol.splits import split_cold_warm
from training.report.writer import write_report

DATA = "synthetic:n_users=160,n_items=120,seed=2"


def small_config() -> RunConfig:
    return tiny_config(**SMALL_GRAPH_MODELS, train__epochs=6, train__projector_epochs=10)


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(n_users=160, n_items=120, seed=2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dataset) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    cfg = small_config()
    split = split_cold_warm(dataset, cfg.train.cold_fraction, cfg.train.seed)
    out = []
    for name in ("lightgcn", "lattice"):
        result = train(dataset, name, cfg, split=split, progress=False)
        write_run(root / name, dataset, result, cfg, DATA)
        out.append(root / name)
    return out[0], out[1]


def test_combined_scores_are_the_weighted_sum(runs) -> None:
    a, b = (Member.load(r) for r in runs)
    users, items = combine(a, b, 0.3)
    ua, ia = a.normalised()
    ub, ib = b.normalised()
    expected = 0.3 * (ua[:5] @ ia.T) + 0.7 * (ub[:5] @ ib.T)
    np.testing.assert_allclose(users[:5] @ items.T, expected, rtol=1e-4, atol=1e-5)


def test_alpha_one_is_member_a(runs, dataset) -> None:
    a, b = (Member.load(r) for r in runs)
    result = ensemble(a, b, dataset, alphas=(1.0,))
    assert result.alpha == 1.0
    alone = evaluate_tracks(a.users, a.items, dataset, a.split, phase="test")
    for track, values in alone.items():
        assert result.metrics["test"][track]["recall@20"] == pytest.approx(values["recall@20"])


def test_alpha_is_chosen_on_validation(runs, dataset) -> None:
    a, b = (Member.load(r) for r in runs)
    result = ensemble(a, b, dataset)
    grid = result.metrics["alpha_grid"]
    assert [g["alpha"] for g in grid] == pytest.approx([0.1 * k for k in range(11)])
    best = max(grid, key=lambda g: g["valid_criterion"])
    assert result.alpha == best["alpha"]
    valid = result.metrics["valid"]
    criterion = (valid["warm"]["recall@20"] + valid["cold_all"]["recall@20"]) / 2
    assert criterion == pytest.approx(best["valid_criterion"])
    assert result.metrics["model"] == "ensemble(lightgcn+lattice)"
    assert set(result.metrics["test"]) >= {"warm", "cold_only", "cold_all"}


def test_different_splits_are_refused(tmp_path, runs, dataset) -> None:
    a = Member.load(runs[0])
    other = split_cold_warm(dataset, 0.2, seed=5)
    b = Member(runs[1], a.metrics, a.config, other, a.users, a.items)
    with pytest.raises(EnsembleError, match="different splits"):
        ensemble(a, b, dataset)
    with pytest.raises(EnsembleError, match="not a finished run"):
        Member.load(tmp_path / "nothing")


def test_cli_writes_a_run_the_report_renders(tmp_path, runs, capsys) -> None:
    out = tmp_path / "ens"
    assert main(["ensemble", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "ensemble(lightgcn+lattice)"
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["alpha"] <= 1.0 and len(metrics["members"]) == 2
    assert set(metrics) >= {"model", "dataset", "test", "valid", "random", "train_seconds"}
    config = json.loads((out / "config.json").read_text())
    assert config["data"] == DATA and config["model"]["dim"] == 32
    with np.load(out / "embeddings.npz") as z:
        assert z["users"].shape[1] == z["items"].shape[1] == 32
    report = write_report([runs[0], runs[1], out], tmp_path / "report").read_text()
    assert "ensemble(lightgcn+lattice)" in report and "## Ensembles" in report


def test_cli_refuses_a_missing_run(tmp_path, runs, capsys) -> None:
    code = main(["ensemble", str(runs[0]), str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert code == 2
    assert "not a finished run" in capsys.readouterr().err
