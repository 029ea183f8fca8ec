"""Simulated edges for new items (issue 13): the step by hand, its choice on validation in a run
and after it, and the service applying exactly what the evaluation measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from plain_files import write_catalogue_shop
from service_bundle import TinyBundle, service_settings, write_bundle
from tiny_config import tiny_config

import models.simulated_edges as edges_module
import training.fitting.trainer as trainer_module
from bundle.reader import load_bundle
from bundle.writer import write_bundle as write_bundle_files
from models.projection import project_features
from models.simulated_edges import EdgesConfig, Reference, SimulatedEdges, propagate, top_neighbours
from service.cold_edges import edges_for
from service.main import create_app
from service.settings import Settings
from training.data.dataset import Dataset
from training.data.resolve import resolve_data
from training.data.synthetic import synthetic_dataset
from training.evaluation.simulated_edges import (
    EdgesSelection,
    apply_edges,
    item_projections,
    main,
    projected_items,
)
from training.export import export_bundle, write_run
from training.fitting.deploy import deploy_fit
from training.fitting.trainer import TrainResult, train
from training.protocol.splits import Split

DATA = "synthetic:n_users=160,n_items=120,seed=2"


def registered_vector(
    settings: Settings, item_id: str, features: dict[str, list[float]] | None
) -> np.ndarray:
    """Start a service on `settings` (replaying its Redis), register `item_id` with `features`
    (None: it was registered before), and return the vector its index holds."""
    with TestClient(create_app(settings)) as client:
        if features is not None:
            r = client.post("/items", json={"id": item_id, "features": features})
            assert r.status_code == 201, r.text
        engine = client.app.state.engine  # type: ignore[attr-defined]
        return np.asarray(engine.catalogue.vectors([engine.item_ids.index(item_id)]))[0]


def _reference() -> Reference:
    rows = np.asarray([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    return Reference(rows, rows, warm_norm=2.0)


def test_the_step_by_hand() -> None:
    ref = _reference()
    p = np.asarray([[3.0, 1.0]], dtype=np.float32)  # scores 3, 1, -3
    scores, rows = top_neighbours(p, ref.rows, 2)
    assert rows.tolist() == [[0, 1]] and scores.tolist() == [[3.0, 1.0]]
    # weights 3/4, 1/4: mean (0.75, 0.25); rescaled to |p| = sqrt(10), mixed half and half
    mean = np.asarray([0.75, 0.25]) * np.sqrt(10) / np.linalg.norm([0.75, 0.25])
    mixed = 0.5 * np.asarray([3.0, 1.0]) + 0.5 * mean
    expected = mixed * np.sqrt(10) / np.linalg.norm(mixed)  # back to p's norm
    out = propagate(p, ref, scores, rows, 0.5, "projection")
    assert np.allclose(out[0], expected, atol=1e-6)
    assert np.linalg.norm(out[0]) == pytest.approx(np.sqrt(10), rel=1e-6)
    # norm "warm": the mean at the trained items' mean norm (2), no rescale after
    warm = 0.5 * np.asarray([3.0, 1.0]) + 0.5 * np.asarray([0.75, 0.25]) * 2 / np.linalg.norm(
        [0.75, 0.25]
    )
    assert np.allclose(propagate(p, ref, scores, rows, 0.5, "warm")[0], warm, atol=1e-6)
    assert np.array_equal(propagate(p, ref, scores, rows, 0.0, "warm"), p)  # alpha 0: off
    # every neighbour scores <= 0: their plain mean
    keys = np.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    other = Reference(keys, keys, 2.0)
    q = np.asarray([[-1.0, -1.0]], dtype=np.float32)  # scores -1, -1, -2
    s, r = top_neighbours(q, other.rows, 2)
    assert sorted(r[0].tolist()) == [0, 1]
    assert np.allclose(propagate(q, other, s, r, 1.0, "warm")[0], [np.sqrt(2), np.sqrt(2)])


def test_source_content_matches_by_cosine_and_brings_the_trained_rows() -> None:
    items = np.asarray([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]], np.float32)  # trained rows
    projections = np.asarray([[10.0, 0.0], [0.1, 0.1], [0.0, 3.0]], np.float32)  # their own
    ref = Reference.build("content", items, items, np.arange(3), np.arange(3), projections)
    scores, rows = ref.neighbours(np.asarray([[2.0, 2.0]], np.float32), 1)
    assert rows.tolist() == [[1]]  # cos 1 beats the larger inner product of item 0
    assert scores[0, 0] == pytest.approx(1.0)
    assert np.array_equal(ref.rows[rows[0]], items[[1]])
    with pytest.raises(ValueError, match="projection"):
        Reference.build("content", items, items, np.arange(3), np.arange(3), None)


def test_an_item_does_not_depend_on_the_others_or_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    users, items = rng.standard_normal((30, 8)), rng.standard_normal((40, 8))
    warm, trained = np.arange(0, 40, 2), np.arange(25)
    step = SimulatedEdges.build(EdgesConfig(5, 0.4, "users"), users, items, warm, trained)
    assert step.reference.rows.shape == (25, 8)  # users with a training item only
    new = rng.standard_normal((9, 8)).astype(np.float32)
    together = step.apply(new)
    monkeypatch.setattr(edges_module, "CHUNK", 2)  # chunked: the same rows
    alone = np.concatenate([step.apply(new[i : i + 1]) for i in range(len(new))])
    assert np.allclose(together, alone, atol=1e-6)
    assert np.allclose(step.apply(new[::-1]), together[::-1], atol=1e-6)


def test_the_manifest_entries() -> None:
    cfg = EdgesConfig(20, 0.5, "users", "projection")
    assert cfg.manifest() == {
        "edges_k": 20,
        "edges_alpha": 0.5,
        "edges_source": "users",
        "edges_norm": "projection",
    }
    assert EdgesConfig.from_manifest(cfg.manifest()) == cfg
    assert EdgesConfig.from_manifest({}) is None  # a bundle written before the step
    assert EdgesConfig.from_manifest({"edges_alpha": 0.0}) is None  # validation turned it off
    with pytest.raises(ValueError, match="source"):
        EdgesConfig.from_manifest(cfg.manifest() | {"edges_source": "friends"})
    with pytest.raises(ValueError, match="alpha"):
        EdgesConfig(5, 1.5)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, TrainResult, Path]:
    """A tiny run with the option on (the grid, the choice and the export)."""
    torch.set_num_threads(1)
    dataset = synthetic_dataset(n_users=160, n_items=120, seed=2)
    cfg = tiny_config(train__epochs=3, train__projector_epochs=5, train__simulated_edges=True)
    result = train(dataset, "lightgcn", cfg, progress=False)
    out = tmp_path_factory.mktemp("edges") / "run"
    write_run(out, dataset, result, cfg, DATA)
    return dataset, result, out


def test_a_run_chooses_on_validation_and_exports_the_choice(
    run: tuple[Dataset, TrainResult, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, result, out = run
    section = result.metrics["simulated_edges"]
    assert len(section["grid"]) == 3 * 4 * 6  # sources x K x alpha, norm projection
    best = max(g["objective"] for g in section["grid"])
    chosen = EdgesConfig.from_manifest(result.metrics["cold_start"])
    assert (chosen is not None) == (best > 1.0)
    for phase in ("valid", "test"):  # the run's figures are those with its choice
        for track, figures in section["with"][phase].items():
            assert figures["recall@20"] == pytest.approx(
                result.metrics[phase][track]["recall@20"], abs=1e-6
            )
    assert load_bundle(out).manifest.cold_start == result.metrics["cold_start"]
    # after the run: the same choice and figures from its saved embeddings and bundle
    assert main([str(out)]) == 0
    posthoc = json.loads(capsys.readouterr().out)
    assert posthoc["projection_matches_run"] is True and posthoc["warm_rows_unchanged"] is True
    warm = posthoc["warm_recall@20"]
    assert warm["with"] == warm["without"]
    assert warm["with"]["test"] == pytest.approx(
        result.metrics["test"]["warm"]["recall@20"], abs=1e-6
    )
    assert posthoc["chosen"] == section["chosen"]
    assert posthoc["with"] == section["with"] and posthoc["without"] == section["without"]
    assert main([str(out), "--norms", "projection,warm"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert len(both["grid"]) == 3 * 4 * 2 * 6 and {g["norm"] for g in both["grid"]} == {
        "projection",
        "warm",
    }
    with pytest.raises(SystemExit):
        main([str(out), "--norms", "sideways"])


def _forced(
    dataset: Dataset, result: TrainResult, tmp: Path, cfg: EdgesConfig
) -> tuple[Path, TrainResult]:
    """A run written with the step `cfg` forced on, and its result: the item embeddings the
    evaluation scores with it."""
    projector = result.model.projector
    assert projector is not None
    raw = result.item_emb.copy()
    new = projected_items(result.split, dataset.n_items)
    raw[new] = item_projections(projector, dataset)[new]  # back to the projections
    forced = TrainResult(
        result.model,
        result.split,
        result.view,
        result.user_emb,
        apply_edges(cfg, result.user_emb, raw, dataset, result.split, projector),
        result.metrics | {"cold_start": cfg.manifest()},
    )
    out = tmp / f"forced-{cfg.source}"
    write_run(out, dataset, forced, tiny_config(), DATA)
    return out, forced


@pytest.mark.parametrize("source", ["users", "content"])
def test_the_service_embeds_a_new_item_as_the_evaluation_did(
    run: tuple[Dataset, TrainResult, Path],
    redis_url_or_none: str | None,
    tmp_path: Path,
    source: str,
) -> None:
    dataset, result, _ = run
    out, forced = _forced(dataset, result, tmp_path, EdgesConfig(5, 0.5, source, "projection"))
    assert (load_bundle(out).item_projections is not None) == (source == "content")
    evaluated = forced.item_emb
    item = int(result.split.cold_test_items[0])
    features = {m: f[item].tolist() for m, f in dataset.modalities.items()}
    settings = service_settings(out, redis_url_or_none, tmp_path)
    vector = registered_vector(settings, "new", features)
    assert np.allclose(vector, evaluated[item], atol=1e-5)
    raw = project_features(
        result.model.projector, {m: np.asarray([v], np.float32) for m, v in features.items()}
    )[0]
    assert not np.allclose(vector, raw, atol=1e-3)  # the step did something
    # a restart on a retrained bundle (another digest, so no cached embedding): replay
    # re-embeds the registered item, through the same step
    again = export_bundle(
        tmp_path / "again", dataset, forced, {**forced.metrics["test"], "copy": 1.0}
    )
    assert load_bundle(again).digest != load_bundle(out).digest
    replayed = registered_vector(settings.model_copy(update={"bundle": again}), "new", None)
    assert np.allclose(replayed, evaluated[item], atol=1e-5)


def test_a_bundle_without_the_constants_serves_the_projection(
    redis_url_or_none: str | None, tmp_path: Path
) -> None:
    tiny: TinyBundle = write_bundle(tmp_path / "bundle")
    assert load_bundle(tiny.path).manifest.cold_start == {}
    features = tiny.item_features(0)
    settings = service_settings(tiny.path, redis_url_or_none, tmp_path)
    vector = registered_vector(settings, "plain", features)
    projector = load_bundle(tiny.path).projector
    assert projector is not None
    expected = project_features(
        projector, {m: np.asarray([v], np.float32) for m, v in features.items()}
    )[0]
    assert np.allclose(vector, expected, atol=1e-6)


def test_deploy_steps_the_catalogue_items_as_the_service_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`coldrec train --deploy`: the refit's projected (catalogue-only) items go through the step
    chosen on the evaluation run (forced here: tiny data may turn it off), and the bundle holds
    exactly what the service's step makes of their projections."""
    torch.set_num_threads(1)
    write_catalogue_shop(tmp_path / "shop")
    shop = resolve_data(str(tmp_path / "shop"))
    cfg = EdgesConfig(3, 0.5, "content", "projection")

    def forced(
        user_emb: np.ndarray, item_emb: np.ndarray, dataset: Dataset, split: Split, projector: Any
    ) -> EdgesSelection:
        stepped = apply_edges(cfg, user_emb, item_emb, dataset, split, projector)
        return EdgesSelection(cfg, stepped, {"chosen": cfg.manifest()})

    monkeypatch.setattr(trainer_module, "select_edges", forced)
    run_cfg = tiny_config(train__epochs=2, train__projector_epochs=3, train__simulated_edges=True)
    deploy = deploy_fit(shop, "lightgcn", run_cfg, progress=False)
    assert deploy is not None
    write_run(tmp_path / "run", shop, deploy.evaluation, run_cfg, "shop", deploy=deploy)
    bundle = load_bundle(tmp_path / "run")
    assert EdgesConfig.from_manifest(bundle.manifest.cold_start) == cfg and len(bundle.projected)
    assert EdgesConfig.from_manifest(deploy.evaluation.metrics["deploy"]["cold_start"]) == cfg
    step = edges_for(bundle)
    assert step is not None and bundle.projector is not None
    items = shop.item_ids.indices(bundle.item_ids.externals(bundle.projected))
    projections = project_features(
        bundle.projector, {m: f[items] for m, f in shop.modalities.items()}
    )
    assert np.allclose(bundle.items[bundle.projected], step.apply(projections), atol=1e-5)
    assert not np.allclose(bundle.items[bundle.projected], projections, atol=1e-3)


def test_the_writer_refuses_source_content_without_the_projections(tmp_path: Path) -> None:
    tiny = write_bundle(tmp_path / "tiny")
    bundle = load_bundle(tiny.path)
    kwargs: dict[str, Any] = {
        "users": bundle.users,
        "items": bundle.items,
        "user_ids": bundle.user_ids.ids,
        "item_ids": bundle.item_ids.ids,
        "seen": (bundle.seen_indptr, bundle.seen_indices),
        "projector": bundle.projector,
        "model": "lightgcn",
        "dataset": "checkerboard",
        "modal_dims": bundle.manifest.modalities,
        "cold_start": EdgesConfig(3, 0.5, "content").manifest(),
    }
    with pytest.raises(ValueError, match="item_projections"):
        write_bundle_files(tmp_path / "refused", **kwargs)
    with pytest.raises(ValueError, match="shape"):
        write_bundle_files(tmp_path / "refused", **kwargs, item_projections=bundle.items[:3])
    write_bundle_files(tmp_path / "ok", **kwargs, item_projections=bundle.items)
    again = load_bundle(tmp_path / "ok")
    assert again.item_projections is not None
    assert np.array_equal(again.item_projections, bundle.items)
    assert edges_for(again) is not None
