"""A frozen Redis (SIGSTOP: the socket stays open, nothing answers) against a real `coldrec serve`
(issue 15, no cliffs): writes and `/readyz` answer 503 problem+json (the socket timeout, not a
hang), recommendations keep coming from memory, and after SIGCONT the service is ready again and
the write succeeds. The test waits for each answer with a generous deadline and asserts no time:
how fast the 503 comes is `benchmarks/bench_no_cliffs.py`."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ServiceProcess, start_service
from external import RedisServer, redis_server_binary
from service_bundle import TinyBundle

DEADLINE_S = 30  # liveness only: the answer must come, however loaded the machine


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test alone (never the suite's shared one): it is frozen."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    srv = RedisServer(redis_server_binary(), workdir).start()
    yield srv
    if srv.proc is not None:
        os.kill(srv.proc.pid, signal.SIGCONT)  # a stopped server would not see SIGTERM
    srv.stop()


def _problem(r: httpx.Response, slug: str) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == 503
    assert r.headers["retry-after"] == "1"


def test_a_frozen_redis_gives_503_problems_then_the_service_recovers(
    own_redis: RedisServer,
    tiny_bundle: TinyBundle,
    services: list[ServiceProcess],
    tmp_path: Path,
) -> None:
    env = {"COLDREC_REDIS_URL": own_redis.url, "COLDREC_NAMESPACE": f"z{uuid.uuid4().hex[:6]}"}
    svc = start_service(services, tiny_bundle.path, env, tmp_path / "serve.log")
    http = httpx.Client(base_url=svc.url, timeout=DEADLINE_S)
    item = {"id": "during", "features": tiny_bundle.item_features(0)}
    assert http.post("/items", json={**item, "id": "before"}).status_code == 201
    assert own_redis.proc is not None
    pid = own_redis.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        _problem(http.post("/items", json=item), "store-unavailable")
        _problem(http.get("/readyz"), "store-unavailable")
        _problem(http.delete("/items/before"), "store-unavailable")
        recs = http.get("/users/u0/recommendations", params={"k": 5})
        assert recs.status_code == 200 and len(recs.json()["items"]) == 5  # from memory
        assert http.get("/healthz").status_code == 200
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + DEADLINE_S
    while http.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the service did not become ready again"
        time.sleep(0.1)
    assert http.post("/items", json=item).status_code == 201
    assert http.get("/items/during").status_code == 200
    assert http.get("/items/before").status_code == 200  # the refused retirement left it
    http.close()
