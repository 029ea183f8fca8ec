"""The service ranks with a bundle's content floor exactly as the evaluation measured it (issue
13): bundle users, registered cold items, users updated online, users known only online, and a
restart that learns registered items' content back from Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from service_bundle import service_settings
from tiny_config import tiny_config

from bundle.reader import load_bundle
from models.content_floor import FloorConfig, profile, user_rows
from service.main import create_app
from training.data.dataset import Dataset
from training.data.synthetic import synthetic_dataset
from training.evaluation.content_floor import FloorRun
from training.evaluation.ranking import evaluate_tracks
from training.export import write_run
from training.fitting.trainer import TrainResult, train
from training.protocol.splits import Part

K = 10


@dataclass
class Floored:
    run: Path
    dataset: Dataset
    result: TrainResult
    floor: FloorRun
    cfg: FloorConfig
    users: np.ndarray  # [n_users, d + dc], the evaluation's query rows
    items: np.ndarray  # [n_items, d + dc], the evaluation's item rows


@pytest.fixture(scope="module")
def floored(tmp_path_factory: pytest.TempPathFactory) -> Floored:
    """A tiny trained run exported with a floor of lambda 1 (validation may keep none on such
    data; the test needs one that moves rankings)."""
    torch.set_num_threads(1)
    dataset = synthetic_dataset(n_users=160, n_items=240, seed=2)
    cfg = tiny_config(train__epochs=3, train__projector_epochs=5)
    result = train(dataset, "lightgcn", cfg, progress=False)
    assert result.metrics["content_floor"]["items"] == "all"  # chosen (or not) and reported
    floor = FloorRun.of(result.user_emb, result.item_emb, dataset, result.split)
    weight = result.metrics["content_floor"]["scale"]
    chosen = FloorConfig(weight, "all", tuple(floor.source))
    result.metrics["cold_start"] = chosen.manifest()
    run = tmp_path_factory.mktemp("floor") / "run"
    write_run(run, dataset, result, cfg, "synthetic:n_users=160,n_items=240,seed=2")
    users, items = floor.rows(chosen)
    return Floored(run, dataset, result, floor, chosen, users, items)


@pytest.fixture()
def client(floored: Floored, redis_url_or_none: str | None, tmp_path: Path) -> Iterator[TestClient]:
    settings = service_settings(floored.run, redis_url_or_none, tmp_path)
    with TestClient(create_app(settings)) as c:
        yield c


def _top(scores: np.ndarray, exclude: set[int], candidates: np.ndarray, k: int = K) -> list[int]:
    order = [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")]]
    return [i for i in order if i not in exclude][:k]


def _recs(c: TestClient, user: str, pool: str, k: int = K) -> tuple[list[str], list[float]]:
    body = c.get(f"/users/{user}/recommendations", params={"k": k, "pool": pool}).json()
    return [i["item_id"] for i in body["items"]], [i["score"] for i in body["items"]]


def _train_items(f: Floored, u: int) -> set[int]:
    return set(f.result.split.matrix(f.dataset, Part.TRAIN)[u].indices.tolist())


def _register(c: TestClient, f: Floored, items: np.ndarray) -> None:
    ds = f.dataset
    body = [
        {"id": ds.item_ids.ids[i], "features": {m: x[i].tolist() for m, x in ds.modalities.items()}}
        for i in items
    ]
    assert c.post("/items", json={"items": body}).status_code == 201


def test_bundle_users_rank_as_the_evaluation(client: TestClient, floored: Floored) -> None:
    f, ids = floored, floored.dataset.item_ids.ids
    warm = f.result.split.warm_items(f.dataset.n_items)
    assert load_bundle(f.run).content is not None
    moved = 0
    for u in range(0, 40, 3):
        name = f.dataset.user_ids.ids[u]
        got, scores = _recs(client, name, "warm")
        expected = _top(f.users[u] @ f.items.T, _train_items(f, u), warm)
        assert got == [ids[i] for i in expected]
        assert np.allclose(scores, (f.users[u] @ f.items.T)[expected], atol=1e-4)
        model = f.result.user_emb[u] @ f.result.item_emb.T  # without the floor
        moved += _top(model, _train_items(f, u), warm) != expected
    assert moved > 0  # the floor changes rankings: the equality above is not the model's alone


def test_registered_cold_items_rank_as_the_evaluation(client: TestClient, floored: Floored) -> None:
    f = floored
    cold = f.result.split.cold_test_items
    _register(client, f, cold)
    truth = f.result.split.matrix(f.dataset, Part.COLD_TEST)
    recalls = []
    for u in np.flatnonzero(np.diff(truth.indptr) > 0):
        if not _train_items(f, u):
            continue
        got, _ = _recs(client, f.dataset.user_ids.ids[u], "cold", 20)
        expected = _top(f.users[u] @ f.items.T, set(), cold, 20)
        assert got == [f.dataset.item_ids.ids[i] for i in expected]
        hits = set(truth[u].indices.tolist()) & set(expected)
        recalls.append(len(hits) / len(truth[u].indices))
    # the evaluation's own figure of this pool: the mean over the same users
    measured = evaluate_tracks(f.users, f.items, f.dataset, f.result.split)["cold_only"]
    assert np.mean(recalls) == pytest.approx(measured["recall@20"], abs=1e-9)


def test_profiles_follow_interactions_online(client: TestClient, floored: Floored) -> None:
    f, ids = floored, floored.dataset.item_ids.ids
    cold = f.result.split.cold_test_items
    _register(client, f, cold[:5])
    everything = np.concatenate([f.result.split.warm_items(f.dataset.n_items), cold[:5]])
    # a user known only online: the mean of their items' model vectors, their items' content
    took = [int(i) for i in f.result.split.warm_items(f.dataset.n_items)[:3]]
    for i in took:
        client.post("/interactions", json={"user_id": "newbie", "item_id": ids[i]})
    mean = f.result.item_emb[took].mean(axis=0)
    query = user_rows(mean, profile(f.floor.content[took]), f.cfg.weight)
    got, _ = _recs(client, "newbie", "all")
    assert got == [ids[i] for i in _top(query @ f.items.T, set(took), everything)]
    assert got != [ids[i] for i in _top(f.result.item_emb @ mean, set(took), everything)]
    # a bundle user's profile gains what they take (the two cold items warm up toward them,
    # a service step of its own, but they are theirs now: excluded)
    u, took = 1, [int(cold[0]), int(cold[1])]
    name = f.dataset.user_ids.ids[u]
    for i in took:
        r = client.post("/interactions", json={"user_id": name, "item_id": ids[i]})
        assert r.status_code == 201
    have = _train_items(f, u) | set(took)
    query = user_rows(f.result.user_emb[u], profile(f.floor.content[sorted(have)]), f.cfg.weight)
    got, _ = _recs(client, name, "all")
    assert got == [ids[i] for i in _top(query @ f.items.T, have, everything)]
    stale = user_rows(
        f.result.user_emb[u], profile(f.floor.content[sorted(_train_items(f, u))]), f.cfg.weight
    )
    assert got != [ids[i] for i in _top(stale @ f.items.T, have, everything)]  # it did move


def test_a_restart_learns_registered_content_from_redis(
    floored: Floored, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    f = floored
    cold = f.result.split.cold_test_items
    settings = service_settings(f.run, redis_url_or_none, tmp_path)
    user = f.dataset.user_ids.ids[2]
    with TestClient(create_app(settings)) as c:
        _register(c, f, cold)
        before = _recs(c, user, "cold")
    with TestClient(create_app(settings)) as c:  # same namespace: replayed from Redis
        assert _recs(c, user, "cold") == before
        expected = _top(f.users[2] @ f.items.T, set(), cold)
        assert before[0] == [f.dataset.item_ids.ids[i] for i in expected]
