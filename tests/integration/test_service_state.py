"""A real served process and the catalogue its state belongs to (service/state.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ServiceProcess, start_service
from service_bundle import TinyBundle, write_bundle


def test_a_bundle_of_another_dataset_exits_with_the_reason(
    tiny_bundle: TinyBundle, services: list[ServiceProcess], tmp_path: Path
) -> None:
    env = {"COLDREC_REDIS_URL": "", "COLDREC_STATE_DIR": str(tmp_path / "state")}
    svc = start_service(services, tiny_bundle.path, env, tmp_path / "first.log")
    item = {"id": "n", "features": tiny_bundle.item_features(0)}
    assert svc.http.post("/items", json=item).status_code == 201
    svc.stop()

    other = write_bundle(tmp_path / "other" / "bundle", fit_steps=30, dataset="stripes")
    log = tmp_path / "second.log"
    with pytest.raises(RuntimeError, match="service exited"):
        start_service(services, other.path, env, log)
    text = log.read_text()
    assert "cannot start: the live state" in text and "COLDREC_ADOPT_STATE=true" in text
    assert "Traceback" not in text

    adopted = start_service(
        services,
        other.path,
        {**env, "COLDREC_ADOPT_STATE": "true"},
        tmp_path / "third.log",
    )
    assert adopted.http.get("/items/n").json()["kind"] == "cold"
