"""DiffMM's own cold path (issue 3 item 4): it is the original's forward pass for a zero-degree
item, the trainer records it beside the projector's, and the projector wins on cold_all."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_config import tiny_config

from models.base import TrainGraphs
from models.config import DiffMMConfig, ModelConfig, ProjectorConfig
from models.diffmm import DiffMM
from models.graph import bipartite_adjacency
from models.lightgcn import LightGCN
from training.config import RunConfig
from training.data.synthetic import synthetic_dataset
from training.evaluation.diagnostics import cold_start_diagnostics
from training.evaluation.ranking import cold_tracks, evaluate_tracks
from training.fitting.trainer import train
from training.report.writer import write_report

MODAL_DIMS = {"image": 12, "text": 8}


def small_config(epochs: int = 15) -> RunConfig:
    return tiny_config(
        model__diffmm__denoiser_hidden=64, model__diffmm__denoise_batch=128, train__epochs=epochs
    )


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(n_users=400, n_items=300, seed=1)


@pytest.fixture(scope="module")
def result(dataset):
    torch.set_num_threads(1)
    return train(dataset, "diffmm", small_config(), progress=False)


def zero_degree_model() -> tuple[DiffMM, dict[str, torch.Tensor]]:
    """A DiffMM whose last item has no interaction (it stays in the tables, as in the paper)."""
    torch.manual_seed(0)
    n_users, n_items = 12, 9
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n_users), 3)
    items = rng.integers(0, n_items - 1, len(users))  # never the last item
    features = {m: torch.randn(n_items, d) for m, d in MODAL_DIMS.items()}
    graphs = TrainGraphs(
        n_users,
        n_items,
        torch.from_numpy(users),
        torch.from_numpy(items),
        bipartite_adjacency(users, items, n_users, n_items),
        features,
    )
    cfg = ModelConfig(
        dim=16,
        n_layers=2,
        projector=ProjectorConfig(hidden=16),
        diffmm=DiffMMConfig(denoiser_hidden=16),
    )
    model = DiffMM(cfg, n_users, n_items, MODAL_DIMS)
    model.prepare(graphs)
    return model, features


def test_native_path_is_the_original_forward_for_a_zero_degree_item() -> None:
    model, features = zero_degree_model()
    _, items = model.embeddings()
    last = {m: x[-1:] for m, x in features.items()}
    views = model.cold_item_views(last, id_embeddings=model.item_table.weight[-1:].detach())
    torch.testing.assert_close(views.embedding[0], items[-1], atol=1e-5, rtol=1e-5)


def test_native_path_is_seeded_and_leaves_the_model_alone() -> None:
    model, features = zero_degree_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = model.native_cold_embeddings(features)
    b = model.native_cold_embeddings(features)
    assert a is not None and a.shape == (9, 16)
    assert torch.equal(a, b)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="missing modalities"):
        model.native_cold_embeddings({"text": features["text"]})


def test_models_without_a_native_path_return_none() -> None:
    model = LightGCN(ModelConfig(dim=8), 4, 4, {"text": 8})
    assert model.native_cold_embeddings({"text": torch.zeros(2, 8)}) is None


def test_trainer_records_diagnostics(result) -> None:
    diag = result.metrics["diagnostics"]
    assert set(diag) >= {
        "before",
        "after",
        "norm_ratio_before",
        "norm_ratio_after",
        "cos_native_vs_projector",
        "cos_modal_vs_diffusion",
        "cos_modal_vs_embedding",
    }
    for side in ("before", "after"):
        assert set(diag[side]) == {"cold_only", "cold_all"}
    # "after" is exactly the run's own cold test tracks
    for track in ("cold_only", "cold_all"):
        assert diag["after"][track] == pytest.approx(result.metrics["test"][track])
    # no generated edge reaches a new item: its diffusion side is an untrained E_i
    assert abs(diag["cos_modal_vs_diffusion"]["cold"]) < 0.2
    json.dumps(diag)  # metrics.json must hold it


def test_projector_beats_the_native_path_on_cold_all(result) -> None:
    diag = result.metrics["diagnostics"]
    after = diag["after"]["cold_all"]["recall@20"]
    before = diag["before"]["cold_all"]["recall@20"]
    assert after > before


def test_cold_tracks_match_evaluate_tracks(dataset, result) -> None:
    full = evaluate_tracks(result.user_emb, result.item_emb, dataset, result.split, phase="valid")
    cold = cold_tracks(result.user_emb, result.item_emb, dataset, result.split, phase="valid")
    assert cold == {t: full[t] for t in ("cold_only", "cold_all")}


def test_no_native_path_no_diagnostics(dataset, result) -> None:
    model = LightGCN(ModelConfig(dim=8), dataset.n_users, 10, dataset.modal_dims)
    out = cold_start_diagnostics(
        model, dataset, result.split, result.view, result.user_emb, result.item_emb
    )
    assert out == {}


def test_report_shows_before_and_after(tmp_path, dataset, result) -> None:
    from training.export import write_run

    run = tmp_path / "diffmm"
    write_run(run, dataset, result, small_config(), "synthetic")
    text = write_report([run], tmp_path / "report").read_text()
    assert "## DiffMM cold start: before and after" in text
    before = result.metrics["diagnostics"]["before"]["cold_all"]["recall@20"]
    assert f"{100 * before:.2f}%" in text
