"""Redis goes away and comes back: 503 on writes, reads from memory, recovery without a restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from external import RedisServer, redis_server_binary
from fastapi.testclient import TestClient
from service_bundle import TinyBundle

from service.main import create_app
from service.settings import Settings


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis of this test (AOF on): killed and restarted on the same port and dir."""
    srv = RedisServer(redis_server_binary(), tmp_path, appendonly=True).start()
    yield srv
    srv.stop()


def test_redis_outage_and_recovery(server: RedisServer, tiny_bundle: TinyBundle) -> None:
    settings = Settings(
        bundle=tiny_bundle.path,
        redis_url=f"redis://127.0.0.1:{server.port}/0",
        namespace=f"f{uuid.uuid4().hex[:6]}",
    )
    item = {"id": "during", "features": tiny_bundle.item_features(0)}
    with TestClient(create_app(settings)) as c:
        assert (
            c.post(
                "/items", json={"id": "before", "features": tiny_bundle.item_features(0)}
            ).status_code
            == 201
        )
        server.stop(kill=True)
        r = c.post("/items", json=item)
        assert r.status_code == 503 and r.json()["type"] == "/problems/store-unavailable"
        assert r.headers["retry-after"] == "1"
        assert c.post("/interactions", json={"user_id": "u0", "item_id": "i0"}).status_code == 503
        assert c.delete("/items/before").status_code == 503
        assert c.get("/readyz").status_code == 503
        recs = c.get("/users/u0/recommendations", params={"k": 5})
        assert recs.status_code == 200 and len(recs.json()["items"]) == 5  # from memory
        assert c.get("/items/during").status_code == 404  # the refused write left nothing

        server.start()  # same port, same data dir (AOF): Redis is back
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover"
            time.sleep(0.05)
        # nothing of the refused writes reached Redis: no hash, no set member, no stream event
        raw = redis.Redis(port=server.port)
        ns = settings.namespace
        assert not raw.exists(f"{ns}:item:during") and not raw.sismember(f"{ns}:items", "during")
        assert not raw.sismember(f"{ns}:retired", "before")
        events = [f[b"id"] for _, f in raw.xrange(f"{ns}:events")]
        assert events == [b"before"]
        raw.close()
        assert c.post("/items", json=item).status_code == 201
        assert c.get("/items/before").status_code == 200
        metrics = c.get("/metrics").text
        assert 'coldrec_redis_errors_total{op="save_items"}' in metrics
    with TestClient(create_app(settings)) as c:  # and a restart sees both items
        assert c.get("/readyz").json()["items"]["cold"] == 2


def test_redis_down_at_start_serves_the_bundle_then_catches_up(
    server: RedisServer, tiny_bundle: TinyBundle
) -> None:
    """Users expect a replica to come up without Redis (reads from the bundle, /readyz 503) and
    to catch up by itself when Redis appears, rather than crash-loop."""
    settings = Settings(
        bundle=tiny_bundle.path,
        redis_url=f"redis://127.0.0.1:{server.port}/0",
        namespace=f"f{uuid.uuid4().hex[:6]}",
    )
    gone = next(f"i{i}" for i in range(16) if i not in tiny_bundle.seen[0])  # u0 may get it
    with TestClient(create_app(settings)) as c:
        kept = {"id": "kept", "features": tiny_bundle.item_features(0)}
        assert c.post("/items", json=kept).status_code == 201
        assert c.delete(f"/items/{gone}").status_code == 204
    server.stop(kill=True)
    with TestClient(create_app(settings)) as c:
        assert c.get("/readyz").status_code == 503
        recs = c.get("/users/u0/recommendations", params={"k": 16})
        assert recs.status_code == 200 and recs.json()["source"] == "user"
        ids = {i["item_id"] for i in recs.json()["items"]}
        assert "kept" not in ids and gone in ids  # the bundle alone: Redis was never read
        r = c.post("/items", json={"id": "x", "features": tiny_bundle.item_features(0)})
        assert r.status_code == 503 and r.json()["type"] == "/problems/store-unavailable"

        server.start()
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service did not catch up with Redis"
            time.sleep(0.05)
        ids = {i["item_id"] for i in c.get("/users/u0/recommendations?k=16").json()["items"]}
        assert "kept" in ids and gone not in ids
        assert c.get("/items/kept").json()["cold"] is True
        r = c.post("/items", json={"id": "x", "features": tiny_bundle.item_features(0)})
        assert r.status_code == 201
