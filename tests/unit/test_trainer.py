"""The trainer end to end on generated data: it learns, the projector learns, runs repeat."""

import json

import numpy as np
import pytest
import torch
from tiny_config import tiny_config

from models.content_floor import FloorConfig
from models.projection import ModalProjector
from models.simulated_edges import EdgesConfig
from training.config import RunConfig
from training.data.synthetic import synthetic_dataset
from training.export import write_run
from training.fitting.trainer import train
from training.protocol.splits import Part


def small_config(epochs: int = 15) -> RunConfig:
    return tiny_config(train__epochs=epochs)


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(n_users=300, n_items=400, seed=1)


@pytest.fixture(scope="module")
def result(dataset):
    torch.set_num_threads(1)
    return train(dataset, "lightgcn", small_config(), progress=False)


def test_no_cold_item_reaches_the_model(dataset, result) -> None:
    cold = result.split.cold_items()
    catalogue = result.split.catalogue_items  # this generator leaves a few items untouched
    assert len(catalogue) == dataset.n_items_without_interactions > 0
    assert len(result.view.warm_items) == dataset.n_items - len(cold) - len(catalogue)
    assert not np.isin(result.view.warm_items, np.union1d(cold, catalogue)).any()
    assert result.model.n_items == len(result.view.warm_items)
    trained_items = result.view.warm_items[result.view.train_rows]
    assert not np.isin(trained_items, cold).any()


def test_every_track_beats_a_random_ranking(result) -> None:
    test, rand = result.metrics["test"], result.metrics["random"]["test"]
    assert set(test) >= {"warm", "cold_only", "cold_all"}
    assert test["warm"]["recall@20"] > 1.5 * rand["warm"]["recall@20"]
    assert test["cold_all"]["recall@20"] > 2 * rand["cold_all"]["recall@20"]
    assert result.metrics["best_epoch"] >= 1
    assert result.metrics["projector"]["valid_cold_only_recall20"] > 0


def test_content_baseline_is_stored_beside_random(result) -> None:
    content = result.metrics["content"]  # no training: training/evaluation/content_baseline.py
    assert content["source"] == ["text"] and set(content) == {"source", "test", "valid"}
    for phase in ("test", "valid"):
        for name, track in result.metrics[phase].items():
            assert content[phase][name]["n_users"] == track["n_users"]
    rand = result.metrics["random"]["test"]
    assert content["test"]["cold_all"]["recall@20"] > 2 * rand["cold_all"]["recall@20"]


def test_projector_is_norm_calibrated(result) -> None:
    warm_norm = np.linalg.norm(result.item_emb[result.view.warm_items], axis=1).mean()
    cold = result.split.cold_items()
    cold_norm = np.linalg.norm(result.item_emb[cold], axis=1).mean()
    # mean norms match, up to the loudness multiplier chosen on validation ...
    fit = result.metrics["projector"]
    assert 0.5 < cold_norm / warm_norm / fit["scale_multiplier"] < 2.0
    # ... which gives cold items the share of validation top-20 lists they have of interactions
    assert 0 < fit["valid_cold_demand_share"] < 1
    assert abs(fit["valid_cold_exposure_share"] - fit["valid_cold_demand_share"]) < 0.03


def test_seeded_runs_repeat_exactly(dataset, result) -> None:
    again = train(dataset, "lightgcn", small_config(), progress=False)
    assert np.array_equal(again.user_emb, result.user_emb)
    assert np.array_equal(again.item_emb, result.item_emb)


def test_run_directory_holds_a_loadable_bundle(tmp_path, dataset, result) -> None:
    from safetensors.torch import load_file

    cfg = small_config()
    bundle = write_run(tmp_path, dataset, result, cfg, "synthetic")
    manifest = json.loads((bundle / "manifest.json").read_text())
    # the trained items and, projected (format 3), the few items no interaction names
    catalogue = result.split.catalogue_items
    assert manifest["format_version"] == 3 and len(catalogue) > 0
    rows = np.union1d(result.view.warm_items, catalogue)
    assert manifest["n_items"] == len(rows)
    # plus what validation kept of the cold-start steps: the content floor's item vectors
    # (content.npy) and simulated edges from content (item_projections.npy); which is kept
    # depends on the run's validation figures, so the manifest says
    cold_start = manifest.get("cold_start", {})
    optional = set()
    if FloorConfig.from_manifest(cold_start) is not None:
        optional.add("content.npy")
    edges = EdgesConfig.from_manifest(cold_start)
    if edges is not None and edges.source == "content":
        optional.add("item_projections.npy")
    assert set(manifest["files"]) == optional | {
        "users.npy",
        "items.npy",
        "user_ids.json",
        "item_ids.json",
        "seen.npz",
        "projector.safetensors",
        "projected.npy",
    }
    assert not (bundle / "index.faiss").exists()  # since format 2 the service builds its own index
    items = np.load(bundle / "items.npy")
    assert np.array_equal(items, result.item_emb[rows])
    item_ids = json.loads((bundle / "item_ids.json").read_text())
    assert item_ids == dataset.item_ids.externals(rows)
    assert np.array_equal(np.load(bundle / "projected.npy"), np.searchsorted(rows, catalogue))
    seen = np.load(bundle / "seen.npz")
    train_mask = result.split.part == Part.TRAIN
    pairs = set(zip(dataset.users[train_mask], dataset.items[train_mask], strict=True))
    assert seen["indptr"][-1] == len(pairs)
    # the projector reloads from safetensors alone and reproduces the cold embeddings
    projector = ModalProjector(manifest["modalities"], manifest["dim"], cfg.model.projector)
    projector.load_state_dict(load_file(bundle / "projector.safetensors"))
    projector.eval()
    cold = result.split.cold_items()[:5]
    feats = {k: torch.from_numpy(v[cold]) for k, v in dataset.modalities.items()}
    assert np.allclose(projector(feats).detach().numpy(), result.item_emb[cold], atol=1e-5)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["warm"]["n_users"] > 0


def test_shipped_split_trains_without_cold_items() -> None:
    from dataclasses import replace

    ds = synthetic_dataset(n_users=60, n_items=40, seed=3)
    # a "shipped" split: each user's last interaction is test, the one before validation
    from training.protocol.splits import split_cold_warm

    labels = split_cold_warm(ds, cold_fraction=0.0, seed=0).part
    cfg = small_config(epochs=2)
    cfg.train.split = "shipped"
    result = train(replace(ds, shipped_part=labels), "lightgcn", cfg, progress=False)
    assert np.array_equal(result.split.part, labels)
    assert "cold_all" not in result.metrics["test"] and "warm" in result.metrics["test"]
    cfg.train.split = "nonsense"
    with pytest.raises(ValueError, match="unknown split"):
        train(ds, "lightgcn", cfg, progress=False)


def test_time_budget_stops_training_and_says_so(dataset) -> None:
    cfg = small_config(epochs=50)
    cfg.train.patience = 50
    cfg.train.time_budget_s = 1e-6  # every epoch overshoots: one epoch, then stop
    run = train(dataset, "lightgcn", cfg, progress=False)
    assert run.metrics["epochs_run"] == 1
    assert run.metrics["stopped_by"] == "time_budget"
    assert run.metrics["peak_rss_mib"] > 50


def test_early_stopping_waits_for_min_epochs(dataset) -> None:
    """Patience 1 stops at the first epoch without a better validation score, never before
    `min_epochs` (an epoch-1 spike is not taken for the peak), and the best epoch is kept."""
    cfg = tiny_config(train__epochs=12, train__projector_epochs=2, train__content_floor="off")
    cfg.train.patience, cfg.train.min_epochs = 1, 10
    run = train(dataset, "lightgcn", cfg, progress=False)
    scores = [h["valid_recall@20"] for h in run.metrics["history"]]
    assert run.metrics["epochs_run"] >= 10
    if run.metrics["stopped_by"] == "patience":
        assert scores[-1] <= max(scores[:-1])
    assert scores[run.metrics["best_epoch"] - 1] == max(scores)
    cfg.train.min_epochs = 0
    early = train(dataset, "lightgcn", cfg, progress=False)
    first_drop = next(i for i in range(1, len(scores)) if scores[i] <= max(scores[:i])) + 1
    assert early.metrics["stopped_by"] == "patience"
    assert early.metrics["epochs_run"] == first_drop < 10
