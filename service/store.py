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
class Registered:
    """A registered item as a replay reads it: its embedding cached for one bundle, or, when there
    is none that projects its latest registration, its record, to be projected."""

    item_id: str
    registered_at: float
    embedding: np.ndarray | None  # [dim] float32, the cached projection
    record: ItemRecord | None  # read only when `embedding` is None


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
        if not records:
            return []
        k = self.keys
        embs = [np.asarray(e, dtype="<f4").tobytes() for e in embeddings]
        ids = [rec.item_id for rec in records]
        stamps = {rec.item_id: repr(rec.registered_at) for rec in records}

        def run() -> list[str]:
            # One command per item where each item needs its own (its record, its event); the
            # sets and hashes every item touches take the whole batch in one command each.
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(*(k.item(i) for i in ids))
            for rec in records:
                pipe.hset(k.item(rec.item_id), mapping=rec.to_hash())
            pipe.sadd(k.items, *ids)
            pipe.srem(k.retired, *ids)
            pipe.hset(k.registered_at, mapping=stamps)
            pipe.hset(k.embeddings(digest), mapping=dict(zip(ids, embs, strict=True)))
            pipe.hset(k.embedded_at(digest), mapping=stamps)
            for rec, emb in zip(records, embs, strict=True):
                event = {
                    "type": "item",
                    "id": rec.item_id,
                    "origin": origin,
                    "ts": stamps[rec.item_id],
                    "digest": digest,
                    "emb": emb,
                }
                pipe.xadd(k.events, event, maxlen=self._maxlen, approximate=True)
            out = pipe.execute()
            return [_text(eid) for eid in out[len(out) - len(records) :]]

        return self._call("save_items", run)

    def retire(self, item_id: str, digest: str, origin: str) -> str:
        """Retire an item; returns the stream event id (the retirement's version)."""

        def run() -> str:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(self.keys.item(item_id))
            pipe.srem(self.keys.items, item_id)
            pipe.sadd(self.keys.retired, item_id)
            pipe.hdel(self.keys.registered_at, item_id)
            pipe.hdel(self.keys.embeddings(digest), item_id)
            pipe.hdel(self.keys.embedded_at(digest), item_id)
            event = {"type": "retire", "id": item_id, "origin": origin, "ts": repr(time.time())}
            pipe.xadd(self.keys.events, event, maxlen=self._maxlen, approximate=True)
            return _text(pipe.execute()[-1])

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

    def iter_registered(
        self, ids: list[str], digest: str, chunk: int = 2000
    ) -> Iterator[Registered]:
        """`ids` with their cached embedding for bundle `digest`; the record only of those with
        no cached embedding of their latest registration (what a replay re-projects).

        Per `chunk` ids, three HMGETs (registration times, embeddings, their stamps) and one
        HGETALL per item to project: a restart on the same bundle reads no item records. An item
        with no registration time (registered before it was kept) is read whole. Ids retired
        since they were listed are skipped.
        """
        k = self.keys
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]

            def cached(part: list[str] = part) -> list[Any]:
                pipe = self.client.pipeline(transaction=False)
                pipe.hmget(k.registered_at, part)
                pipe.hmget(k.embeddings(digest), part)
                pipe.hmget(k.embedded_at(digest), part)
                replies: list[Any] = pipe.execute()
                return replies

            ats, embs, stamps = self._call("iter_registered", cached)
            stale = [
                j
                for j, (at, emb, stamp) in enumerate(zip(ats, embs, stamps, strict=True))
                if at is None or not emb or (stamp is not None and float(stamp) != float(at))
            ]
            records = dict(zip(stale, self._records([part[j] for j in stale]), strict=True))
            for j, item_id in enumerate(part):
                rec = records.get(j)
                if j in records and rec is None:
                    continue  # retired since the ids were listed
                at = rec.registered_at if rec is not None else float(ats[j])
                fresh = embs[j] and (stamps[j] is None or float(stamps[j]) == at)
                vec = np.frombuffer(embs[j], dtype="<f4").astype(np.float32) if fresh else None
                yield Registered(item_id, at, vec, None if vec is not None else rec)

    def _records(self, ids: list[str]) -> list[ItemRecord | None]:
        """The records of `ids` in one round trip; None for an id with none (retired)."""
        if not ids:
            return []

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for item_id in ids:
                pipe.hgetall(self.keys.item(item_id))
            replies: list[Any] = pipe.execute()
            return replies

        hashes = self._call("iter_registered", run)
        return [
            ItemRecord.from_hash(i, data) if data else None
            for i, data in zip(ids, hashes, strict=True)
        ]

    def cache_embeddings(self, digest: str, records: list[ItemRecord], embs: np.ndarray) -> None:
        """Cache the projections `embs` [n, dim] of `records` by bundle `digest`, stamped with
        the registration they were projected from (a newer one is re-projected)."""

        if not records:
            return
        ids = [rec.item_id for rec in records]
        rows = [e.tobytes() for e in np.asarray(embs, dtype="<f4")]
        stamps = [repr(rec.registered_at) for rec in records]

        def run() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(self.keys.embeddings(digest), mapping=dict(zip(ids, rows, strict=True)))
            pipe.hset(self.keys.embedded_at(digest), mapping=dict(zip(ids, stamps, strict=True)))
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
