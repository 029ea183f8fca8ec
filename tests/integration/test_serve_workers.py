"""`coldrec serve --workers 2`: two processes on one port, each a replica of the shared Redis.

Every answer is a 200 whichever worker takes the connection; a write taken by one worker is
served on new connections (any worker) within the followers' lag, and at once on the connection
that wrote it; /metrics sums both workers' counters whichever one is scraped; without a shared
Redis the command refuses with one line. Waits are liveness deadlines only."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
from conftest import REPO, ServiceProcess, coldrec_command, start_service
from service_bundle import TinyBundle

DEADLINE_S = 60  # liveness only: generous enough for a loaded 2-core box
N_REQUESTS = 40


def _fresh(url: str, path: str, **params: object) -> httpx.Response:
    """One request on a new connection (the kernel may hand it to either worker)."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return client.get(path, params=params)


def _metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def _worker_pids(svc: ServiceProcess) -> set[int]:
    assert svc.proc is not None
    out = subprocess.run(
        ["pgrep", "-P", str(svc.proc.pid)], capture_output=True, text=True, check=False
    )
    return {int(p) for p in out.stdout.split()}


def test_two_workers_serve_one_port(
    redis_url: str, tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "workers"}
    svc = start_service(services, tiny_bundle.path, env, tmp_path / "w.log", ("--workers", "2"))
    deadline = time.monotonic() + DEADLINE_S
    while len(_worker_pids(svc)) < 2:  # uvicorn's supervisor and its workers
        assert time.monotonic() < deadline, "two workers never came up"
        time.sleep(0.1)
    while _fresh(svc.url, "/readyz").status_code != 200 or len(_worker_pids(svc)) < 2:
        assert time.monotonic() < deadline, "the workers never became ready"
        time.sleep(0.1)

    before = _metric(_fresh(svc.url, "/metrics").text, "coldrec_recommended_items_total")
    for n in range(N_REQUESTS):  # new connections: both workers answer some of them
        r = _fresh(svc.url, f"/users/u{n % 3}/recommendations", k=5)
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == 5

    # read your writes on the writing connection; the other worker follows
    body = {"id": "fresh-0", "features": tiny_bundle.item_features(0, 0)}
    assert svc.http.post("/items", json=body).status_code == 201
    r = svc.http.get("/users/u0/recommendations", params={"k": 10, "pool": "cold"})
    assert "fresh-0" in [i["item_id"] for i in r.json()["items"]]
    for _ in range(10):  # ten new connections in a row, each must see it once followed
        while _fresh(svc.url, "/items/fresh-0").status_code != 200:
            assert time.monotonic() < deadline + DEADLINE_S, "a worker never picked it up"
            time.sleep(0.01)

    # every worker's counters in one scrape, whichever worker answers it
    for _ in range(6):
        after = _metric(_fresh(svc.url, "/metrics").text, "coldrec_recommended_items_total")
        assert after - before >= N_REQUESTS * 5
    cold = 'coldrec_index_items{kind="cold"}'
    assert _metric(_fresh(svc.url, "/metrics").text, cold) == 1.0


def test_workers_without_a_shared_redis_refuse(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLDREC_REDIS_URL"}
    cmd = [*coldrec_command(), "serve", "--bundle", str(tiny_bundle.path), "--workers", "2"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "COLDREC_REDIS_URL" in out.stderr and "Traceback" not in out.stderr
