"""Issue 13's cold-start training options: ID dropout, modality dropout, ALDI distillation.

Each option changes training as its docstring says (with p = 1 the backbone's BPR sees only
projections, for every model; modality dropout zeroes whole modalities, never all of an item's;
the distillation terms are finite and fall when trained), and with every option off (the
default rating alignment set to 0) training never reaches their code, so it runs as before the
options existed (the seeded embeddings were checked byte-identical against the commit before
them for all four models).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_config import SMALL_GRAPH_MODELS, tiny_config

from models.base import Batch
from models.config import ProjectorConfig
from models.names import MODEL_NAMES
from models.projection import ModalProjector
from models.registry import model_class
from training.config import ColdTrainingConfig, RunConfig, apply_overrides, parse_assignments
from training.data.synthetic import synthetic_dataset
from training.export import write_run
from training.fitting import cold_training, distill, projector, refit_projector, trainer
from training.fitting.cold_training import IdDropout, drop_modalities
from training.fitting.distill import aldi_terms
from training.fitting.trainer import make_split, train
from training.fitting.warm_view import WarmView

MODALITIES = {"text": 16, "image": 12}


@pytest.fixture(scope="module")
def dataset():
    return synthetic_dataset(n_users=120, n_items=90, seed=3, modalities=MODALITIES)


OFF = {"train__cold_training__distill_rating": 0.0}  # with the defaults: every option off


def _run_config(**overrides) -> RunConfig:
    """The tiny run with every option off but `overrides`."""
    return tiny_config(
        train__epochs=3, train__projector_epochs=4, **SMALL_GRAPH_MODELS, **{**OFF, **overrides}
    )


def test_options_are_typed_settings() -> None:
    cfg = RunConfig()
    # chosen on validation (docs/results/cold_training/): ALDI's rating alignment at 0.1 only
    assert cfg.train.cold_training == ColdTrainingConfig()
    assert cold_training.used(cfg.train.cold_training) == ["distill_rating"]
    assert cfg.train.cold_training.distill_rating == 0.1
    apply_overrides(cfg, parse_assignments(["train.cold_training.distill_rating=0"]))
    assert cold_training.used(cfg.train.cold_training) == []
    apply_overrides(
        cfg,
        parse_assignments(
            ["train.cold_training.id_dropout=0.3", "train.cold_training.distill_ranking=2"]
        ),
    )
    assert cfg.train.cold_training.id_dropout == 0.3
    assert cold_training.used(cfg.train.cold_training) == ["id_dropout", "distill_ranking"]
    with pytest.raises(ValueError):
        apply_overrides(cfg, parse_assignments(["train.cold_training.nope=1"]))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_id_dropout_one_puts_only_projections_in_bpr(dataset, name: str) -> None:
    torch.manual_seed(0)
    cfg = _run_config(model__projector__dropout=0.0)
    view = WarmView.build(dataset, make_split(dataset, cfg))
    model = model_class(name)(cfg.model, dataset.n_users, len(view.warm_items), dataset.modal_dims)
    model.prepare(view.graphs(dataset))
    model.begin_epoch(1)
    off = dataclasses.replace(cfg.train.cold_training, id_dropout=0.0)
    assert IdDropout.make(model, off, 1e-3) is None
    dropout = IdDropout.make(model, dataclasses.replace(off, id_dropout=1.0), 1e-3)
    assert dropout is not None
    rng = np.random.default_rng(0)
    pos = rng.choice(len(view.warm_items), 32)
    neg = rng.choice(len(view.warm_items), 32)
    users = torch.from_numpy(rng.choice(dataset.n_users, 32))
    batch = dropout.apply(Batch(users, torch.from_numpy(pos), torch.from_numpy(neg)))
    assert batch.override is not None and len(batch.override.rows) == 64
    assert dropout.summary() == {"replaced_share": 1.0}

    bpr = model.loss(batch)["bpr"]
    with torch.no_grad():
        u = model.propagate()[0][users]  # every model's users: what its loss scores with
        graph_items = model.propagate()[1]
        feats = model.graphs.features
        g_pos = model.projector({m: x[pos] for m, x in feats.items()})
        g_neg = model.projector({m: x[neg] for m, x in feats.items()})
    expected = F.softplus(-((u * g_pos).sum(1) - (u * g_neg).sum(1))).mean()
    assert torch.allclose(bpr, expected, atol=1e-5)
    trained = F.softplus(-((u * graph_items[pos]).sum(1) - (u * graph_items[neg]).sum(1))).mean()
    assert not torch.allclose(bpr, trained, atol=1e-3)  # the graph's items are not what it saw

    dropout.zero_grad()
    bpr.backward()
    grads = [p.grad for p in model.projector.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)  # the projector trains on the BPR loss


def test_id_dropout_replaces_about_p_of_the_items(dataset) -> None:
    torch.manual_seed(1)
    cfg = _run_config(train__cold_training__id_dropout=0.3)
    result = train(dataset, "lightgcn", cfg, progress=False)
    section = result.metrics["cold_training"]
    assert section["used"] == ["id_dropout"] and section["id_dropout"] == 0.3
    assert abs(section["id_dropout_log"]["replaced_share"] - 0.3) < 0.03
    assert len(section["projector_terms"]) == result.metrics["projector"]["epochs_run"]
    rand = result.metrics["random"]["test"]["cold_all"]["recall@20"]
    assert result.metrics["test"]["cold_all"]["recall@20"] > rand


def test_id_dropout_is_refused_without_modalities() -> None:
    data = synthetic_dataset(n_users=40, n_items=30, seed=0, modalities={})
    with pytest.raises(ValueError, match="projector"):
        train(data, "lightgcn", _run_config(train__cold_training__id_dropout=0.5), progress=False)


def test_modality_dropout_zeroes_whole_modalities_never_all() -> None:
    torch.manual_seed(0)
    n = 4000
    feats = {"image": torch.randn(n, 5) + 3, "text": torch.randn(n, 4) + 3}
    assert drop_modalities(feats, 0.0) is feats
    assert drop_modalities({"text": feats["text"]}, 0.9)["text"] is feats["text"]
    out = drop_modalities(feats, 0.5)
    zero = {m: (x == 0).all(dim=1) for m, x in out.items()}
    kept = {m: (x == feats[m]).all(dim=1) for m, x in out.items()}
    assert all(bool((zero[m] | kept[m]).all()) for m in feats)  # a whole modality, or none
    assert not bool((zero["image"] & zero["text"]).any())  # one always kept
    # each dropped with 0.5, both dropped (0.25) gets one back at random: 0.375 each
    for m in feats:
        assert abs(float(zero[m].float().mean()) - 0.375) < 0.03
    every = drop_modalities(feats, 1.0)
    assert bool(((every["image"] == 0).all(1) ^ (every["text"] == 0).all(1)).all())


def test_distillation_terms_are_finite_and_fall_when_trained() -> None:
    torch.manual_seed(0)
    n_items, d = 64, 8
    features = {"text": torch.randn(n_items, 12)}
    teacher = torch.randn(n_items, d)  # [I, d] the trained items
    users = torch.randn(48, d)
    cfg = ColdTrainingConfig(distill_rating=1.0, distill_ranking=1.0, distill_identification=1.0)
    assert distill.wants_distillation(cfg) and distill.wants_distillation(ColdTrainingConfig())
    assert not distill.wants_distillation(ColdTrainingConfig(distill_rating=0.0))
    student = ModalProjector({"text": 12}, d, ProjectorConfig(hidden=32, dropout=0.0))
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    weight = distill.popularity_weight(torch.arange(48), 0.1)
    assert weight is not None and float(weight[0]) == 0.0 and float(weight[-1]) < 1.0
    assert distill.popularity_weight(torch.arange(48), 0.0) is None
    rng = np.random.default_rng(0)
    pos, neg = rng.choice(n_items, 48), rng.choice(n_items, 48)
    history = []
    for _ in range(150):
        g = student({"text": features["text"][np.concatenate([pos, neg])]})
        terms = aldi_terms(users, teacher[pos], teacher[neg], g[:48], g[48:], cfg, weight)
        assert set(terms) == {"distill_rating", "distill_ranking", "distill_identification"}
        assert all(bool(torch.isfinite(t)) for t in terms.values())
        history.append({k: float(v.detach()) for k, v in terms.items()})
        optimizer.zero_grad()
        torch.stack(list(terms.values())).sum().backward()
        optimizer.step()
    for name in history[0]:
        assert history[-1][name] < 0.9 * history[0][name], name
    off = ColdTrainingConfig(distill_rating=0.0)
    assert aldi_terms(users, teacher[pos], teacher[neg], g[:48], g[48:], off) == {}


def test_projector_fit_records_distillation_and_modality_dropout(dataset) -> None:
    cfg = _run_config(
        train__cold_training__modality_dropout=0.3,
        train__cold_training__distill_rating=0.1,
        train__cold_training__distill_ranking=1.0,
        train__cold_training__distill_identification=1.0,
        train__cold_training__distill_popularity=0.2,
    )
    result = train(dataset, "lightgcn", cfg, progress=False)
    section = result.metrics["cold_training"]
    assert section["used"] == [
        "modality_dropout",
        "distill_rating",
        "distill_ranking",
        "distill_identification",
        "distill_popularity",
    ]
    rows = section["projector_terms"]
    assert {"bpr", "align", "distill_rating", "distill_ranking"} <= set(rows[0])
    assert all(np.isfinite(v) for row in rows for v in row.values())
    json.dumps(result.metrics)  # metrics.json can hold it


def test_options_off_never_reach_their_code(dataset, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("an option that is off was used")

    # off, the ID dropout is never made, modalities never dropped, no term computed
    monkeypatch.setattr(cold_training.IdDropout, "__init__", refuse)
    monkeypatch.setattr(
        projector, "drop_modalities", lambda feats, rate: feats if rate == 0 else refuse()
    )
    monkeypatch.setattr(projector, "aldi_terms", refuse)
    cfg = _run_config()
    first = train(dataset, "micro", cfg, progress=False)
    assert first.metrics["cold_training"]["used"] == []
    assert "projector_terms" not in first.metrics["cold_training"]
    again = train(dataset, "micro", cfg, progress=False)
    assert np.array_equal(first.item_emb, again.item_emb)
    assert trainer.cold_training is cold_training


def test_refit_projector_on_a_finished_run(tmp_path, dataset) -> None:
    cfg = _run_config()
    result = train(dataset, "lightgcn", cfg, progress=False)
    write_run(tmp_path, dataset, result, cfg, "synthetic")
    config = json.loads((tmp_path / "config.json").read_text())
    plain = refit_projector.run_config(config, {})
    assert plain == cfg
    base = refit_projector.refit(tmp_path, dataset, plain)
    again = refit_projector.refit(tmp_path, dataset, plain)
    assert base == {**again, "seconds": base["seconds"]}  # seeded: the same fit
    assert set(base["valid"]) == set(base["test"]) == {"cold_only", "cold_all"}
    ranked = refit_projector.refit(
        tmp_path,
        dataset,
        refit_projector.run_config(config, {"train.cold_training.distill_ranking": 1.0}),
    )
    assert ranked["cold_training"]["used"] == ["distill_ranking"]
    assert ranked["test"] != base["test"] or ranked["projector"] != base["projector"]
    with pytest.raises(ValueError, match="backbone"):
        refit_projector.refit(
            tmp_path,
            dataset,
            refit_projector.run_config(config, {"train.cold_training.id_dropout": 0.5}),
        )


def test_default_run_aligns_ratings(dataset) -> None:
    cfg = tiny_config(train__epochs=3, train__projector_epochs=4)  # the defaults of every option
    section = train(dataset, "lightgcn", cfg, progress=False).metrics["cold_training"]
    assert section["used"] == ["distill_rating"] and section["distill_rating"] == 0.1
    assert all("distill_rating" in row for row in section["projector_terms"])
