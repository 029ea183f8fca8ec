"""Issue 14, "Done when": two real `coldrec serve` replicas swap bundles while client threads keep
asking for recommendations: no request fails, and both serve the new digest; a bad bundle is a
problem and the old one serves on; an A/B splits users the same way on both replicas.

How long a swap takes is benchmarks/bench_hot_swap.py's question: the waits here are liveness
deadlines only."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from conftest import ServiceProcess, start_service
from service_bundle import TinyBundle, write_bundle

from bundle.reader import load_bundle

KEY = "rollout-integration-key"
AUTH = {"X-API-Key": KEY}
DEADLINE_S = 60  # liveness only: generous for a loaded 2-core box
N_CLIENTS = 4


class Clients:
    """Threads that ask both replicas for recommendations back to back, counting every answer
    (status code, or the transport error) and the times they were sent."""

    def __init__(self, services: list[ServiceProcess]) -> None:
        self.services = services
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, int | str]] = []
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(N_CLIENTS)
        ]

    def _run(self, n: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = 0
            while not self.stop.is_set():
                svc = self.services[i % len(self.services)]
                user = f"u{(i * N_CLIENTS + n) % 20}" if i % 3 else f"stranger-{i}"
                sent = time.monotonic()
                try:
                    r = http.get(f"{svc.url}/users/{user}/recommendations", params={"k": 5})
                    outcome: int | str = r.status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self.lock:
                    self.answers.append((sent, outcome))
                i += 1

    def __enter__(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)

    def sent_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t, _ in self.answers if start <= t <= end)

    def failures(self) -> list[int | str]:
        with self.lock:
            return [outcome for _, outcome in self.answers if outcome != 200]


def _state(svc: ServiceProcess) -> dict:
    r = svc.http.get("/admin/bundle")
    assert r.status_code == 200, r.text
    return r.json()


def _wait_for(services: list[ServiceProcess], check: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not all(check(_state(svc)) for svc in services):  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: {[_state(s) for s in services]}"
        time.sleep(0.05)


def test_two_replicas_swap_bundles_under_load_with_no_failed_request(
    redis_url: str, tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    v2 = write_bundle(tmp_path / "v2" / "bundle", seed=1, fit_steps=50)
    old, new = load_bundle(tiny_bundle.path).digest, load_bundle(v2.path).digest
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "rollout", "COLDREC_API_KEYS": KEY}
    a = start_service(services, tiny_bundle.path, env, tmp_path / "a.log")
    b = start_service(services, tiny_bundle.path, env, tmp_path / "b.log")
    body = {"id": "online-1", "features": tiny_bundle.item_features(0)}
    assert a.http.post("/items", json=body, headers=AUTH).status_code == 201

    with Clients([a, b]) as clients:
        time.sleep(0.5)  # requests flowing before the swap
        started = time.monotonic()
        r = a.http.post("/admin/bundle", json={"path": str(v2.path.parent)}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()["active"]["digest"] == new
        _wait_for([a, b], lambda s: s["active"]["digest"] == new, "the replicas never switched")
        switched = time.monotonic()
        time.sleep(0.5)  # and after it

        # a bad bundle: a problem with the reason, the new one serves on
        r = b.http.post("/admin/bundle", json={"path": str(tmp_path / "nothing")}, headers=AUTH)
        assert r.status_code == 422 and r.json()["type"] == "/problems/bundle-refused"
        assert "no manifest.json" in r.json()["detail"]
        time.sleep(0.3)
    assert clients.sent_between(started, switched) > 0, "no request was in flight during the swap"
    assert clients.failures() == [], clients.failures()[:10]
    assert len(clients.answers) > 20
    for svc in (a, b):
        assert _state(svc)["active"]["digest"] == new and _state(svc)["error"] is None
        got = svc.http.get("/users/u0/recommendations", params={"k": 20, "pool": "cold"})
        assert [i["item_id"] for i in got.json()["items"]] == ["online-1"]  # carried over

    # A/B: the old bundle as the candidate for half the users, the same split on both replicas
    r = b.http.post(
        "/admin/bundle", json={"path": str(tiny_bundle.path), "share": 0.5}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    _wait_for([a, b], lambda s: (s["candidate"] or {}).get("digest") == old, "no A/B on both")
    users = [f"shopper-{n}" for n in range(120)]
    arms = {}
    for user in users:
        got = {
            svc.http.get(f"/users/{user}/recommendations").headers["X-Coldrec-Variant"]
            for svc in (a, b)
        }
        assert len(got) == 1, (user, got)
        arms[user] = got.pop()
    share = sum(v == "candidate" for v in arms.values()) / len(users)
    assert 0.3 < share < 0.7, share
    metrics = a.http.get("/metrics").text
    assert 'coldrec_recommended_items_total{kind="warm",variant="candidate"}' in metrics
    assert 'coldrec_hits_total{kind="cold",variant="candidate"} 0.0' in metrics

    assert a.http.delete("/admin/bundle/candidate", headers=AUTH).status_code == 200
    _wait_for([a, b], lambda s: s["candidate"] is None, "the candidate was not dropped")
    for svc in (a, b):
        assert KEY not in svc.log.read_text()
