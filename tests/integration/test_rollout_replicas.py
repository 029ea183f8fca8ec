"""Issue 14, "Done when": two real `coldrec serve` replicas swap bundles while client threads keep
asking for recommendations: no request fails, and both serve the new digest; a bad bundle is a
problem and the old one serves on; an A/B splits users the same way on both replicas.

How long a swap takes is benchmarks/bench_hot_swap.py's question: the waits here are liveness
deadlines only."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import ServiceProcess, start_service
from loop_steps import Clients, admin_state, wait_for
from service_bundle import TinyBundle, write_bundle

from bundle.reader import load_bundle

KEY = "rollout-integration-key"
AUTH = {"X-API-Key": KEY}


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
        wait_for([a, b], lambda s: s["active"]["digest"] == new, "the replicas never switched")
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
        assert admin_state(svc)["active"]["digest"] == new and admin_state(svc)["error"] is None
        got = svc.http.get("/users/u0/recommendations", params={"k": 20, "pool": "cold"})
        assert [i["item_id"] for i in got.json()["items"]] == ["online-1"]  # carried over

    # A/B: the old bundle as the candidate for half the users, the same split on both replicas
    r = b.http.post(
        "/admin/bundle", json={"path": str(tiny_bundle.path), "share": 0.5}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    wait_for([a, b], lambda s: (s["candidate"] or {}).get("digest") == old, "no A/B on both")
    users = [f"shopper-{n}" for n in range(120)]
    arms = {}
    for user in users:
        variants = {
            svc.http.get(f"/users/{user}/recommendations").headers["X-Coldrec-Variant"]
            for svc in (a, b)
        }
        assert len(variants) == 1, (user, variants)
        arms[user] = variants.pop()
    share = sum(v == "candidate" for v in arms.values()) / len(users)
    assert 0.3 < share < 0.7, share
    metrics = a.http.get("/metrics").text
    assert 'coldrec_recommended_items_total{kind="warm",variant="candidate"}' in metrics
    assert 'coldrec_hits_total{kind="cold",variant="candidate"} 0.0' in metrics

    assert a.http.delete("/admin/bundle/candidate", headers=AUTH).status_code == 200
    wait_for([a, b], lambda s: s["candidate"] is None, "the candidate was not dropped")
    for svc in (a, b):
        assert KEY not in svc.log.read_text()
