"""Two service processes on one Redis: read your writes on one, the other follows, concurrent
writers on both converge on one catalogue, and the API key never reaches a log.

How fast the other replica follows is a benchmark's question (benchmarks/bench_replica_lag.py),
not this test's: its waits are liveness deadlines only."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import ServiceProcess, start_service
from service_bundle import TinyBundle

KEY = "replica-write-key-7f3a9c"
AUTH = {"X-API-Key": KEY}
N_FRESH = 7  # registrations that replica B must pick up
DEADLINE_S = 30  # liveness only: generous enough for a loaded 2-core box


def _recommended(svc: ServiceProcess, user: str, pool: str = "all", k: int = 5) -> list[str]:
    r = svc.http.get(f"/users/{user}/recommendations", params={"k": k, "pool": pool})
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]]


def _metric(svc: ServiceProcess, name: str) -> float:
    for line in svc.http.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def _catalogue(svc: ServiceProcess) -> tuple[dict, dict]:
    sizes = svc.http.get("/readyz").json()["items"]
    recs = {}
    for user in ("u0", "u1", "stranger"):
        r = svc.http.get(f"/users/{user}/recommendations", params={"k": 40, "pool": "cold"})
        recs[user] = [(i["item_id"], round(i["score"], 5)) for i in r.json()["items"]]
    return sizes, recs


def _write_storm(svc: ServiceProcess, tiny: TinyBundle, parity: int) -> None:
    """Upserts and retirements of the same ten ids that the other replica writes too."""
    for n in range(30):
        item = f"c{n % 10}"
        if n % 7 == 6:
            svc.http.delete(f"/items/{item}", headers=AUTH)
        else:
            body = {"id": item, "features": tiny.item_features((n + parity) % 2, n)}
            assert svc.http.post("/items", json=body, headers=AUTH).status_code == 201


def test_two_replicas_read_your_writes_follow_and_converge(
    redis_url: str, tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "replicas", "COLDREC_API_KEYS": KEY}
    a = start_service(services, tiny_bundle.path, env, tmp_path / "a.log")
    b = start_service(services, tiny_bundle.path, env, tmp_path / "b.log")

    for n in range(N_FRESH):
        item = f"fresh-{n}"
        body = {"id": item, "features": tiny_bundle.item_features(0, n)}
        assert a.http.post("/items", json=body, headers=AUTH).status_code == 201
        assert item in _recommended(a, "u0", pool="cold", k=10)  # the very next request on A
        deadline = time.monotonic() + DEADLINE_S
        while b.http.get(f"/items/{item}").status_code != 200:
            assert time.monotonic() < deadline, "replica B never picked the item up"
            time.sleep(0.005)
        assert item in _recommended(b, "u0", pool="cold", k=10)
    # B timed each pick-up from the stream (the figure itself: benchmarks/bench_replica_lag.py)
    name = "coldrec_registration_to_servable_seconds"
    assert _metric(b, f'{name}_count{{path="stream"}}') == N_FRESH

    assert a.http.delete("/items/fresh-0", headers=AUTH).status_code == 204
    deadline = time.monotonic() + DEADLINE_S
    while "fresh-0" in _recommended(b, "u0", pool="cold", k=10):
        assert time.monotonic() < deadline, "B still recommends a retired item"
        time.sleep(0.01)

    # concurrent writers on both replicas, same ids: both end with the same catalogue
    # through futures, so an assertion failing inside a writer fails the test
    with ThreadPoolExecutor(max_workers=2) as pool:
        storms = [pool.submit(_write_storm, svc, tiny_bundle, p) for p, svc in enumerate((a, b))]
        for storm in storms:
            storm.result(timeout=120)
    deadline = time.monotonic() + DEADLINE_S
    while (seen := (_catalogue(a), _catalogue(b)))[0] != seen[1]:
        assert time.monotonic() < deadline, f"replicas did not converge: {seen}"
        time.sleep(0.05)

    for svc in (a, b):  # uvicorn's and the service's own logs
        assert KEY not in svc.log.read_text()
