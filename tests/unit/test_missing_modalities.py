"""Items with some of the bundle's modalities (issue 13, Deliver 3): the service accepts a subset
and feeds the others as zeros; the evaluation projects cold items through the same function."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from service_bundle import TinyBundle, service_settings, write_bundle
from tiny_config import tiny_config

from models.content_floor import FloorConfig
from models.projection import project_features
from models.simulated_edges import EdgesConfig
from service.main import create_app
from training.data.synthetic import synthetic_dataset
from training.evaluation.missing_modalities import ServedCold, evaluate, main, project_subset
from training.evaluation.ranking import cold_tracks
from training.evaluation.saved_run import load_saved_run
from training.evaluation.simulated_edges import apply_edges
from training.export import write_run
from training.fitting.trainer import train

MODAL_DIMS = {"image": 8, "text": 12}


@pytest.fixture(scope="module")
def two_modal(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("mm") / "bundle", modal_dims=MODAL_DIMS)


@pytest.fixture()
def client(
    two_modal: TinyBundle, redis_url_or_none: str | None, tmp_path: Path
) -> Iterator[TestClient]:
    settings = service_settings(two_modal.path, redis_url_or_none, tmp_path)
    with TestClient(create_app(settings)) as c:
        yield c


def _vector(client: TestClient, item: str) -> np.ndarray:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    return np.asarray(engine.catalogue.vectors([engine.item_ids.index(item)]))[0]


@pytest.mark.parametrize("keep", [["text"], ["image"], ["image", "text"]])
def test_a_subset_of_modalities_is_accepted(
    client: TestClient, two_modal: TinyBundle, keep: list[str]
) -> None:
    full = two_modal.item_features(0)
    r = client.post("/items", json={"id": "part", "features": {m: full[m] for m in keep}})
    assert r.status_code == 201, r.text
    assert r.json()["items"][0]["modalities"] == keep
    # What the projector got: the missing modalities as zeros, through the shared function.
    engine = client.app.state.engine  # type: ignore[attr-defined]
    zeros = {
        m: np.asarray([full[m]] if m in keep else np.zeros((1, d)), np.float32)
        for m, d in MODAL_DIMS.items()
    }
    assert np.allclose(_vector(client, "part"), project_features(engine.bundle.projector, zeros)[0])


@pytest.mark.parametrize(
    ("features", "detail"),
    [({}, "no features"), ({"text": [0.0] * 12, "image": [0.0] * 8}, "every feature is zero")],
)
def test_an_item_with_no_modality_is_refused(
    client: TestClient, features: dict[str, list[float]], detail: str
) -> None:
    r = client.post("/items", json={"id": "empty", "features": features})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "/problems/invalid-features" and detail in body["detail"]
    assert client.get("/items/empty").status_code == 404


def test_evaluation_projects_like_the_service(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    dataset = synthetic_dataset(n_users=160, n_items=120, seed=2)
    # the projection alone (the edges step is off in tiny_config, the floor here; the next
    # test serves both)
    cfg = tiny_config(train__epochs=3, train__projector_epochs=5, train__content_floor="off")
    result = train(dataset, "lightgcn", cfg, progress=False)
    run = tmp_path / "run"
    write_run(run, dataset, result, cfg, "synthetic:n_users=160,n_items=120,seed=2")

    out = evaluate(run, dataset, [["text"], ["image"]])
    assert out["full_matches_run"] is True and out["cold_start"] == []
    assert set(out["variants"]) == {"image+text", "text", "image"}
    full = out["variants"]["image+text"]
    assert full["cold_all"]["recall@20"] == pytest.approx(
        result.metrics["test"]["cold_all"]["recall@20"], abs=1e-6
    )
    assert full["share_of_full"]["cold_all"] == 1.0

    # text only == the projector given zeros for image, as the service feeds it
    projector = result.model.projector
    cold = result.split.cold_items()
    zeros = {"text": dataset.modalities["text"][cold], "image": np.zeros((len(cold), 16))}
    assert np.allclose(
        project_subset(projector, dataset, cold, ["text"]), project_features(projector, zeros)
    )
    items = result.item_emb.copy()
    items[cold] = project_features(projector, zeros)
    expected = cold_tracks(result.user_emb, items, dataset, result.split)
    for track in ("cold_only", "cold_all"):
        assert out["variants"]["text"][track]["recall@20"] == pytest.approx(
            expected[track]["recall@20"], abs=1e-6
        )
    assert main([str(run), "--keep", "text"]) == 0
    with pytest.raises(ValueError, match="projector has"):
        evaluate(run, dataset, [["audio"]])


def test_evaluation_serves_edges_and_floor_like_the_service(
    redis_url_or_none: str | None, tmp_path: Path
) -> None:
    """A bundle with the simulated-edges step and the content floor (forced: tiny data may turn
    them off): an item registered with text only, or image only, gets in the service exactly
    the index row and user score the evaluation ranks it by."""
    torch.set_num_threads(1)
    dataset = synthetic_dataset(n_users=160, n_items=120, seed=2)
    cfg = tiny_config(train__epochs=3, train__projector_epochs=5)
    result = train(dataset, "lightgcn", cfg, progress=False)
    projector = result.model.projector
    assert projector is not None
    edges, floor = EdgesConfig(5, 0.5, "content", "projection"), FloorConfig(2.0, "all", ("text",))
    stepped = apply_edges(edges, result.user_emb, result.item_emb, dataset, result.split, projector)
    forced = replace(
        result,
        item_emb=stepped,
        metrics=result.metrics | {"cold_start": edges.manifest() | floor.manifest()},
    )
    run = tmp_path / "run"
    write_run(run, dataset, forced, cfg, "synthetic:n_users=160,n_items=120,seed=2")

    out = evaluate(run, dataset, [["text"], ["image"]])
    assert out["full_matches_run"] is True and out["cold_start"] == ["edges", "floor"]
    split, users, items = load_saved_run(run)
    served = ServedCold(projector, dataset, split, users, items, forced.metrics["cold_start"])
    cold = split.cold_items()
    item, user = int(split.cold_test_items[0]), 0
    settings = service_settings(run, redis_url_or_none, tmp_path)
    with TestClient(create_app(settings)) as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        for keep in (["text"], ["image"]):
            name = f"new-{keep[0]}"
            feats = {m: dataset.modalities[m][item].tolist() for m in keep}
            assert client.post("/items", json={"id": name, "features": feats}).status_code == 201
            embedded = served.embed(cold, keep)
            user_rows, item_rows = served.rows(cold, keep, embedded)
            internal = engine.item_ids.index(name)
            vector = np.asarray(engine.catalogue.vectors([internal]))[0]
            assert np.allclose(vector, item_rows[item, : len(vector)], atol=1e-5)
            content = engine.catalogue.floor._rows(np.array([internal]))[0]
            assert np.allclose(np.sqrt(2.0) * content, item_rows[item, len(vector) :], atol=1e-5)
            assert content.any() == (keep == ["text"])  # the floor's content is text alone
            vector_u, _, seen = engine.user_vector(dataset.user_ids.externals([user])[0])
            assert np.allclose(vector_u, users[user], atol=1e-6)
            query = engine.catalogue.floor.query(vector_u, seen)
            assert float(query @ np.concatenate([vector, np.sqrt(2.0) * content])) == (
                pytest.approx(float(user_rows[user] @ item_rows[item]), abs=1e-4)
            )
