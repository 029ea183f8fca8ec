"""Two service processes on one Redis: read your writes on one, the other follows in 100 ms."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import ServiceProcess, start_service
from service_bundle import TinyBundle


def _recommended(svc: ServiceProcess, user: str, pool: str = "all", k: int = 5) -> list[str]:
    r = svc.http.get(f"/users/{user}/recommendations", params={"k": k, "pool": pool})
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]]


def test_read_your_writes_and_replica_follows(
    redis_url: str, tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "replicas"}
    a = start_service(services, tiny_bundle.path, env, tmp_path / "a.log")
    b = start_service(services, tiny_bundle.path, env, tmp_path / "b.log")
    lags = []
    for n in range(5):
        item = f"fresh-{n}"
        r = a.http.post("/items", json={"id": item, "features": tiny_bundle.item_features(0, n)})
        answered = time.perf_counter()
        assert r.status_code == 201
        assert item in _recommended(a, "u0", pool="cold", k=10)  # the very next request on A
        while b.http.get(f"/items/{item}").status_code != 200:
            assert time.perf_counter() - answered < 2.0, "replica B never picked the item up"
        lags.append(time.perf_counter() - answered)
        assert item in _recommended(b, "u0", pool="cold", k=10)
    assert sorted(lags)[len(lags) // 2] < 0.1, lags  # median pick-up under 100 ms
    a.http.delete("/items/fresh-0")
    time.sleep(0.2)
    assert "fresh-0" not in _recommended(b, "u0", pool="cold", k=10)
    metrics = b.http.get("/metrics").text
    assert 'coldrec_registration_to_servable_seconds_count{path="stream"} 5.0' in metrics
