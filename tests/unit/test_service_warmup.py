"""Warm-up through the API (service/warmup.py): a cold item taken by odd users of the checkerboard
bundle turns toward them, reports its warmth, and every replica, a restart and a hot swap agree;
COLDREC_WARMUP=false leaves it as projected."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_bundle import TinyBundle, service_settings, write_bundle

from bundle.reader import load_bundle
from models.projection import project_features as project
from service.engine import Engine
from service.main import create_app
from service.settings import Settings
from service.warmup import warm_vector

ODD_TAKERS = ["u1", "u3", "u5", "u7"]
K0 = 2.0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle")


@pytest.fixture()
def settings(tiny: TinyBundle, redis_url_or_none: str | None, tmp_path: Path) -> Settings:
    return service_settings(tiny.path.parent, redis_url_or_none, tmp_path, warmup_k0=K0)


def _vector(engine: Engine, item: str) -> np.ndarray:
    got: np.ndarray = engine.catalogue.vectors([engine.item_ids.index(item)])[0]
    return got


def _projection(bundle_dir: Path, features: dict[str, list[float]]) -> np.ndarray:
    feats = {k: np.asarray([v], np.float32) for k, v in features.items()}
    got: np.ndarray = project(load_bundle(bundle_dir).projector, feats)[0]
    return got


def _score(client: TestClient, user: str, item: str) -> float:
    r = client.get(f"/users/{user}/recommendations", params={"k": 50, "pool": "all"})
    return next(i["score"] for i in r.json()["items"] if i["item_id"] == item)


def _take(client: TestClient, users: list[str], item: str) -> None:
    body = {"interactions": [{"user_id": u, "item_id": item} for u in users]}
    assert client.post("/interactions", json=body).status_code == 201


def test_a_cold_item_moves_toward_its_takers_on_every_replica(
    settings: Settings, tiny: TinyBundle, tmp_path: Path
) -> None:
    feats = tiny.item_features(0)  # an "even" item
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        assert a.post("/items", json={"id": "x", "features": feats}).status_code == 201
        ea, eb = a.app.state.engine, b.app.state.engine
        projection = _vector(ea, "x")
        assert np.allclose(projection, _projection(tiny.path, feats), atol=1e-5)
        assert a.get("/items/x").json()["warmth"] == {"interactions": 0, "weight": 0.0}
        assert a.get("/items/i0").json()["warmth"] is None  # trained: never warms up
        before = _score(a, "u9", "x")  # an odd user who takes nothing

        _take(a, ODD_TAKERS + ["u1", "online-only"], "x")  # a repeat and an unknown user
        _take(a, ["u3"], "i0")  # a trained item: untouched
        users = load_bundle(tiny.path).users
        want = warm_vector(projection, users[[1, 3, 5, 7]].mean(axis=0), 4, K0)
        assert np.allclose(_vector(ea, "x"), want, atol=1e-5)
        assert np.allclose(_vector(ea, "i0"), ea.bundle.items[0])
        assert a.get("/items/x").json()["warmth"] == {"interactions": 4, "weight": 4 / (4 + K0)}
        assert _score(a, "u9", "x") > before  # turned toward the odd users
        assert float(want @ users[9]) > float(projection @ users[9])

        deadline = time.monotonic() + 30  # liveness only: the replica follows the stream
        while not np.allclose(_vector(eb, "x"), want, atol=1e-5):
            assert time.monotonic() < deadline, "the replica never warmed the item up"
            time.sleep(0.01)
        assert b.get("/items/x").json()["warmth"] == {"interactions": 4, "weight": 4 / (4 + K0)}

    with TestClient(create_app(settings)) as c:  # a restart replays the takers from Redis
        assert np.allclose(_vector(c.app.state.engine, "x"), want, atol=1e-5)

        other = write_bundle(tmp_path / "v2" / "bundle", seed=1, dim=6, fit_steps=80)
        r = c.post("/admin/bundle", json={"path": str(other.path.parent)})
        assert r.status_code == 200, r.text
        swapped = c.app.state.engine  # the swap recomputes from the new bundle's users
        v2_users = load_bundle(other.path).users[[1, 3, 5, 7]].mean(axis=0)
        want2 = warm_vector(_projection(other.path, feats), v2_users, 4, K0)
        assert np.allclose(_vector(swapped, "x"), want2, atol=1e-5)
        assert c.get("/items/x").json()["warmth"]["interactions"] == 4


def test_the_off_switch_leaves_the_projection(settings: Settings, tiny: TinyBundle) -> None:
    off = settings.model_copy(update={"warmup": False})
    with TestClient(create_app(off)) as a:
        a.post("/items", json={"id": "x", "features": tiny.item_features(0)})
        projection = _vector(a.app.state.engine, "x")
        _take(a, ODD_TAKERS, "x")
        assert np.array_equal(_vector(a.app.state.engine, "x"), projection)
        assert a.get("/items/x").json()["warmth"] is None
