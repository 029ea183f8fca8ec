"""Redis, the source of truth for everything after training: items, interactions, recent lists.

Every write that must not be half done runs in one MULTI/EXEC transaction together with its
stream event. Redis failures become `StoreUnavailable` (503) and are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np
import redis

from service.errors import StoreUnavailable
from service.keys import Keys

T = TypeVar("T")
Fields = dict[bytes, bytes]
DEFAULT_EVENT = "click"  # an interaction's kind when none is given (the API's default too)


@dataclass
class ItemRecord:
    """A registered item as kept in Redis: its raw content, so any bundle can re-project it."""

    item_id: str
    features: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [d_m] float32
    text: str | None = None
    registered_at: float = 0.0

    def to_hash(self) -> dict[str, bytes | str]:
        out: dict[str, bytes | str] = {"registered_at": repr(self.registered_at)}
        if self.text is not None:
            out["text"] = self.text
        for name, vec in self.features.items():
            out[f"f:{name}"] = np.asarray(vec, dtype="<f4").tobytes()
        return out

    @classmethod
    def from_hash(cls, item_id: str, data: Fields) -> ItemRecord:
        text = data.get(b"text")
        feats = {
            k[2:].decode(): np.frombuffer(v, dtype="<f4").astype(np.float32)
            for k, v in data.items()
            if k.startswith(b"f:")
        }
        return cls(
            item_id=item_id,
            features=feats,
            text=text.decode() if text is not None else None,
            registered_at=float(data.get(b"registered_at", b"0")),
        )


@dataclass(frozen=True)
class Interaction:
    """An interaction as the stream keeps it; `event` is the kind the client sent."""

    event_id: str
    user: str
    item_id: str
    event: str
    ts: float
    origin: str

    @classmethod
    def from_event(cls, event_id: str, fields: Fields) -> Interaction:
        return cls(
            event_id=event_id,
            user=fields[b"user"].decode(),
            item_id=fields[b"id"].decode(),
            event=fields.get(b"event", DEFAULT_EVENT.encode()).decode(),  # older events: none
            ts=float(fields.get(b"ts", b"0")),
            origin=fields.get(b"origin", b"").decode(),
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def stream_version(event_id: str) -> tuple[int, int]:
    """A stream id "ms-seq" as a comparable tuple."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


class Store:
    """Typed operations on Redis; `on_error(op)` is called before a failure is raised."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        on_error: Callable[[str], None] = lambda op: None,
        stream_maxlen: int = 100_000,
    ) -> None:
        self.client: Any = client  # redis-py's return types are unions of every reply shape
        self.keys = keys
        self._on_error = on_error
        self._maxlen = stream_maxlen

    def _call(self, op: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except redis.RedisError as exc:
            self._on_error(op)
            raise StoreUnavailable(f"Redis is unavailable ({op}): {type(exc).__name__}") from exc

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            self._on_error("ping")
            return False

    # -- items ---------------------------------------------------------------------------------
    def save_items(
        self, records: list[ItemRecord], embeddings: np.ndarray, digest: str, origin: str
    ) -> list[str]:
        """Write the items, their embeddings (cached per bundle) and their stream events at once.

        Returns each item's stream event id: its version, which orders concurrent writes.
        """

        def run() -> list[str]:
            pipe = self.client.pipeline(transaction=True)
            for rec, emb in zip(records, embeddings, strict=True):
                emb_bytes = np.asarray(emb, dtype="<f4").tobytes()
                pipe.delete(self.keys.item(rec.item_id))
                pipe.hset(self.keys.item(rec.item_id), mapping=rec.to_hash())
                pipe.sadd(self.keys.items, rec.item_id)
                pipe.srem(self.keys.retired, rec.item_id)
                pipe.hset(self.keys.embeddings(digest), rec.item_id, emb_bytes)
                pipe.hset(self.keys.embedded_at(digest), rec.item_id, repr(rec.registered_at))
                event = {
                    "type": "item",
                    "id": rec.item_id,
                    "origin": origin,
                    "ts": repr(rec.registered_at),
                    "digest": digest,
                    "emb": emb_bytes,
                }
                pipe.xadd(self.keys.events, event, maxlen=self._maxlen, approximate=True)
            out = pipe.execute()
            return [_text(out[7 * i + 6]) for i in range(len(records))]

        return self._call("save_items", run)

    def retire(self, item_id: str, digest: str, origin: str) -> str:
        """Retire an item; returns the stream event id (the retirement's version)."""

        def run() -> str:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(self.keys.item(item_id))
            pipe.srem(self.keys.items, item_id)
            pipe.sadd(self.keys.retired, item_id)
            pipe.hdel(self.keys.embeddings(digest), item_id)
            pipe.hdel(self.keys.embedded_at(digest), item_id)
            event = {"type": "retire", "id": item_id, "origin": origin, "ts": repr(time.time())}
            pipe.xadd(self.keys.events, event, maxlen=self._maxlen, approximate=True)
            return _text(pipe.execute()[5])

        return self._call("retire", run)

    def load_item(self, item_id: str) -> ItemRecord | None:
        data = self._call("load_item", lambda: self.client.hgetall(self.keys.item(item_id)))
        return ItemRecord.from_hash(item_id, data) if data else None

    def registered_ids(self) -> list[str]:
        ids = self._call("registered_ids", lambda: self.client.smembers(self.keys.items))
        return sorted(i.decode() for i in ids)

    def retired_ids(self) -> set[str]:
        ids = self._call("retired_ids", lambda: self.client.smembers(self.keys.retired))
        return {i.decode() for i in ids}

    def iter_items(
        self, ids: list[str], digest: str, chunk: int = 500
    ) -> Iterator[tuple[ItemRecord, np.ndarray | None]]:
        """Records of `ids` with their cached embedding for bundle `digest` (None if absent, or
        if it was projected from an older registration of the item)."""
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]

            def run(part: list[str] = part) -> list[Any]:
                pipe = self.client.pipeline(transaction=False)
                for item_id in part:
                    pipe.hgetall(self.keys.item(item_id))
                pipe.hmget(self.keys.embeddings(digest), part)
                pipe.hmget(self.keys.embedded_at(digest), part)
                replies: list[Any] = pipe.execute()
                return replies

            *hashes, embs, stamps = self._call("iter_items", run)
            for item_id, data, emb, at in zip(part, hashes, embs, stamps, strict=True):
                if data:
                    rec = ItemRecord.from_hash(item_id, data)
                    fresh = emb and (at is None or float(at) == rec.registered_at)
                    vec = np.frombuffer(emb, dtype="<f4").astype(np.float32) if fresh else None
                    yield rec, vec

    def cache_embeddings(self, digest: str, records: list[ItemRecord], embs: np.ndarray) -> None:
        """Cache the projections `embs` [n, dim] of `records` by bundle `digest`, stamped with
        the registration they were projected from (a newer one is re-projected)."""

        def run() -> None:
            pipe = self.client.pipeline(transaction=False)
            for rec, emb in zip(records, np.asarray(embs, dtype="<f4"), strict=True):
                pipe.hset(self.keys.embeddings(digest), rec.item_id, emb.tobytes())
                pipe.hset(self.keys.embedded_at(digest), rec.item_id, repr(rec.registered_at))
            pipe.execute()

        self._call("cache_embeddings", run)

    # -- interactions and recent recommendations ----------------------------------------------
    def record_interactions(
        self,
        pairs: list[tuple[str, str]],
        origin: str,
        ts: float,
        events: list[str] | None = None,
    ) -> list[bool]:
        """Record (user, item) pairs, each with its `events` kind (default "click"); True where
        the item was recently recommended to the user. The kind is kept in the stream event
        (`iter_interactions` reads it back) and in the interaction log (`Keys.log`).

        A hit removes the item from the user's recent list, so one recommendation counts once.
        """
        kinds = events if events is not None else [DEFAULT_EVENT] * len(pairs)
        if len(kinds) != len(pairs):
            raise ValueError(f"{len(pairs)} interactions but {len(kinds)} event kinds")

        def run() -> list[bool]:
            pipe = self.client.pipeline(transaction=True)
            for (user, item), kind in zip(pairs, kinds, strict=True):
                pipe.zrem(self.keys.recent(user), item)
                pipe.sadd(self.keys.seen(user), item)
                pipe.sadd(self.keys.users, user)
                event = {
                    "type": "interaction",
                    "user": user,
                    "id": item,
                    "event": kind,
                    "origin": origin,
                    "ts": repr(ts),
                }
                pipe.xadd(self.keys.events, event, maxlen=self._maxlen, approximate=True)
                logged = {"user": user, "id": item, "event": kind, "ts": repr(ts)}
                pipe.xadd(self.keys.log, logged)  # untrimmed: the export's record (keys.log)
            out = pipe.execute()
            return [bool(out[5 * i]) for i in range(len(pairs))]

        return self._call("record_interactions", run)

    def remember_recommendations(
        self, user: str, items: list[str], now: float, keep: int, ttl_s: int
    ) -> None:
        self.remember_many([(user, items, now)], keep, ttl_s)

    def remember_many(
        self, lists: list[tuple[str, list[str], float]], keep: int, ttl_s: int
    ) -> None:
        """Add (user, items, time) lists to each user's recent ZSET, keep the newest `keep`."""
        lists = [(user, items, now) for user, items, now in lists if items]
        if not lists:
            return

        def run() -> None:
            pipe = self.client.pipeline(transaction=False)
            for user, items, now in lists:
                key = self.keys.recent(user)
                pipe.zadd(key, dict.fromkeys(items, now))
                pipe.zremrangebyrank(key, 0, -(keep + 1))
                pipe.expire(key, ttl_s)
            pipe.execute()

        self._call("remember_recommendations", run)

    def load_seen(self) -> dict[str, set[str]]:
        """Every user's online interactions: user -> item ids."""

        def run() -> dict[str, set[str]]:
            users = sorted(u.decode() for u in self.client.smembers(self.keys.users))
            pipe = self.client.pipeline(transaction=False)
            for user in users:
                pipe.smembers(self.keys.seen(user))
            rows = pipe.execute()
            return {u: {i.decode() for i in s} for u, s in zip(users, rows, strict=True)}

        return self._call("load_seen", run)

    # -- the event stream ----------------------------------------------------------------------
    def last_event_id(self) -> str:
        """The id of the newest stream event ("0-0" when there is none)."""
        rows = self._call("last_event_id", lambda: self.client.xrevrange(self.keys.events, count=1))
        return rows[0][0].decode() if rows else "0-0"

    def first_event_id(self) -> str | None:
        """The id of the oldest event still in the (trimmed) stream; None when it is empty."""
        rows = self._call("first_event_id", lambda: self.client.xrange(self.keys.events, count=1))
        return _text(rows[0][0]) if rows else None

    def iter_interactions(self, after: str = "0-0", chunk: int = 1000) -> Iterator[Interaction]:
        """The interactions still in the stream after event id `after`, oldest first (the stream
        keeps the last `COLDREC_STREAM_MAXLEN` events of every type)."""
        while True:
            rows = self._call("iter_interactions", partial(self._range_after, after, chunk))
            for eid, fields in rows:
                if fields.get(b"type") == b"interaction":
                    yield Interaction.from_event(eid, fields)
            if not rows:
                return
            after = rows[-1][0]

    def _range_after(self, after: str, count: int) -> list[tuple[str, Fields]]:
        """Up to `count` stream events after id `after` (XRANGE's `min` is inclusive)."""
        rows = self.client.xrange(self.keys.events, min=after, count=count + 1)
        return [(_text(eid), fields) for eid, fields in rows if _text(eid) != after][:count]

    def read_events(self, after: str, block_ms: int, count: int = 500) -> list[tuple[str, Fields]]:
        """Events after id `after`, waiting up to `block_ms` for the first one."""
        res = self._call(
            "read_events",
            lambda: self.client.xread({self.keys.events: after}, count=count, block=block_ms),
        )
        if not res:
            return []
        return [(eid.decode(), fields) for eid, fields in res[0][1]]
