"""Serving a second bundle beside the first: a swap with no downtime, and an A/B of bundles.

A replica serves one `Served` value: the active engine, and optionally a candidate engine with
its share of users. Requests read `Rollout.served` once and finish on what they read; a swap
replaces it with one reference assignment, so a request sees the old bundle or the new one,
never half of each, and never waits for a load. A new bundle is loaded, indexed and replayed
from Redis in the caller's thread (a worker thread of the admin route, or this module's
follower of the rollout record) while the old one keeps serving; stream events that arrive
meanwhile are buffered and applied to it, in order, just before the swap. Engines no longer
served are stopped a little later (a request that still holds one searches inline).

What every replica should serve is recorded in Redis (`Keys.rollout`, service/bundles.py) and
announced by a `bundle` event on the stream: each replica then reads the record (the latest
wins, whatever order events arrive in) and loads, promotes or drops until it serves it.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bundle.reader import Bundle
from service.bundles import BundleInfo, Record, load_beside, peek_digest, publish, read_record
from service.engine import Engine, ItemView, NewItem
from service.errors import (
    BundleRefused,
    RolloutConflict,
    ServiceError,
    StoreUnavailable,
    UnknownItem,
)
from service.index import Kind
from service.metrics import Metrics
from service.settings import Settings
from service.store import Fields, Store
from service.variants import CANDIDATE, CONTROL, on_candidate, served_by

log = logging.getLogger(__name__)
RETIRE_AFTER_S = 2.0  # an engine swapped out keeps its threads this long for in-flight requests
Event = tuple[str, Fields]


@dataclass(frozen=True)
class Served:
    """What a replica serves, replaced as a whole: the active engine, an A/B candidate and the
    share of users (0 to 1) the candidate serves."""

    active: Engine
    candidate: Engine | None = None
    share: float = 0.0

    def engines(self) -> tuple[Engine, ...]:
        return (self.active,) if self.candidate is None else (self.active, self.candidate)

    def matches(self, want: Record) -> bool:
        cand = None if self.candidate is None else self.candidate.bundle.digest
        wanted = None if want.candidate is None else want.candidate.digest
        return (
            self.active.bundle.digest == want.active.digest
            and cand == wanted
            and (cand is None or self.share == want.share)
        )


class Rollout:
    """The bundles one replica serves, and the loads, swaps, promotions and drops between them."""

    def __init__(
        self,
        active: Engine,
        build: Callable[[Bundle], Engine],
        store: Store,
        metrics: Metrics,
        settings: Settings,
    ) -> None:
        self.served = Served(active)
        self.replica = uuid.uuid4().hex[:12]
        self.loading: str | None = None  # the bundle being loaded, for GET /admin/bundle
        self.error: str | None = None  # why the recorded rollout could not be followed
        self.on_swap: Callable[[Served], None] = lambda served: None
        self._build = build
        self._store = store
        self._metrics = metrics
        self._settings = settings
        self._busy = threading.Lock()  # one load (or promotion, drop) at a time
        self._dispatch = threading.Lock()  # stream events vs warming engines and the swap
        self._warming: dict[int, list[Event]] = {}  # id(engine) -> events it has yet to apply
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._show(self.served)

    @property
    def active(self) -> Engine:
        return self.served.active

    # -- serving -------------------------------------------------------------------------------
    def engine_for(self, user_id: str) -> Engine:
        """The engine that serves `user_id`: the candidate for its share of users, else the
        active one."""
        s = self.served
        if s.candidate is not None and on_candidate(user_id, s.candidate.bundle.digest, s.share):
            return s.candidate
        return s.active

    def register(self, items: list[NewItem], received_at: float) -> list[ItemView]:
        """Register through the active engine; a candidate indexes its own projection too."""
        s = self.served
        return s.active.register(items, received_at, peers=s.engines()[1:])

    def get_item(self, item_id: str) -> ItemView:
        s = self.served
        try:
            return s.active.get_item(item_id)
        except UnknownItem:
            if s.candidate is None:
                raise
            return s.candidate.get_item(item_id)

    def delete_item(self, item_id: str) -> None:
        lead, peers = _lead(self.served, [item_id], lambda e, i: e.kind_of(i) is not None)
        lead.delete_item(item_id, peers)

    def interact(
        self, pairs: list[tuple[str, str]], events: list[str] | None = None
    ) -> list[tuple[str, str, bool, Kind | None]]:
        """Record interactions; each hit is credited to the arm whose list showed the item."""
        s = self.served
        for engine in s.engines():
            engine.recent.flush()  # every list this replica answered is in Redis
        served = served_by(self._store, pairs)
        lead, peers = _lead(s, [i for _, i in pairs], lambda e, i: i in e.item_ids)
        return lead.interact(pairs, events, served, peers)

    # -- replication ---------------------------------------------------------------------------
    def apply_event(self, event_id: str, fields: Fields) -> None:
        """The follower's callback: an event goes to every engine served and every one loading;
        a `bundle` event makes this replica follow the rollout record."""
        if fields.get(b"type") == b"bundle":
            self._wake.set()
            return
        with self._dispatch:
            for pending in self._warming.values():
                pending.append((event_id, fields))
            engines = self.served.engines()
        for engine in engines:
            engine.apply_event(event_id, fields)

    def replay(self) -> None:
        """Rebuild every served engine from Redis (a trimmed stream, Redis back), then check
        the rollout record (its events may be among those lost)."""
        for engine in self.served.engines():
            engine.replay()
        self._wake.set()

    # -- the rollout ---------------------------------------------------------------------------
    def roll_out(self, path: str, share: float | None) -> None:
        """Blocking: load the bundle at `path` beside the serving one and swap to it (`share`
        None), or serve it to `share` of the users as the A/B candidate."""
        with self._exclusive():
            s = self.served
            try:
                digest = peek_digest(path)
            except BundleRefused:
                self._metrics.bundle_loads.labels("refused").inc()
                raise
            if share is not None and digest == s.active.bundle.digest:
                raise RolloutConflict("that bundle is the active one: it cannot be its candidate")
            fresh: dict[str, Engine] = {}
            have = {e.bundle.digest: e for e in s.engines()}
            try:
                engine = have.get(digest) or self._prepare(path, None, fresh)
            except BaseException:
                self._discard(fresh)
                raise
            info = BundleInfo.of(engine.bundle)
            if share is None:
                want = Record(info)
            else:
                want = Record(BundleInfo.of(s.active.bundle), info, share)
            self._realise(want, True, fresh)

    def promote(self) -> None:
        """The candidate becomes the active bundle for every user; the old one is dropped."""
        with self._exclusive():
            cand = self.served.candidate
            if cand is None:
                raise RolloutConflict("there is no candidate bundle to promote")
            self._realise(Record(BundleInfo.of(cand.bundle)), True, {})

    def drop(self) -> None:
        """End the A/B: every user is served by the active bundle (nothing to do without one)."""
        with self._exclusive():
            if self.served.candidate is not None:
                self._realise(Record(BundleInfo.of(self.active.bundle)), True, {})

    def describe(self) -> dict[str, Any]:
        """The active bundle, the candidate with its share, what is loading, the last error."""
        s = self.served
        cand = None
        if s.candidate is not None:
            cand = {**asdict(BundleInfo.of(s.candidate.bundle)), "share": s.share}
        return {
            "active": asdict(BundleInfo.of(s.active.bundle)),
            "candidate": cand,
            "loading": self.loading,
            "error": self.error,
            "replica": self.replica,
        }

    # -- following the record ------------------------------------------------------------------
    def start(self) -> Rollout:
        """Follow the rollout record in a thread (at once: a candidate recorded before start)."""
        self._thread = threading.Thread(target=self._follow, name="coldrec-rollout", daemon=True)
        self._thread.start()
        self._wake.set()
        return self

    def stop(self) -> None:
        """Stop following, then every engine's threads."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for engine in self.served.engines():
            _retire(engine)

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                want = read_record(self._store)  # the latest, whichever event woke us
                if want is not None and not self.served.matches(want):
                    with self._busy:
                        want = read_record(self._store)  # a local rollout may have moved on
                        if want is not None and not self.served.matches(want):
                            self._realise(want, False, {})
                self.error = None
            except StoreUnavailable:
                self._stop.wait(1.0)
                self._wake.set()
            except Exception as exc:  # a bundle this replica cannot load: keep serving
                self.error = str(exc) if isinstance(exc, ServiceError) else repr(exc)
                log.error("cannot follow the recorded rollout: %s", self.error)

    # -- loading and swapping ------------------------------------------------------------------
    def _exclusive(self) -> _Held:
        if not self._busy.acquire(timeout=0.5):  # a load takes seconds: answer, do not queue
            raise RolloutConflict(
                f"a bundle is loading ({self.loading or 'following another replica'}); "
                "try again when it is served"
            )
        return _Held(self._busy)

    def _realise(self, want: Record, announce: bool, fresh: dict[str, Engine]) -> None:
        """Serve `want` (loading what is not served yet), record it first when `announce`."""
        s = self.served
        have = {e.bundle.digest: e for e in s.engines()} | fresh
        try:
            active = have.get(want.active.digest) or self._prepare(
                want.active.path, want.active.digest, fresh
            )
            cand = None
            if want.candidate is not None:
                cand = have.get(want.candidate.digest) or self._prepare(
                    want.candidate.path, want.candidate.digest, fresh
                )
            if announce:
                publish(self._store, want, self.replica, self._settings.stream_maxlen)
        except BaseException:
            self._discard(fresh)
            raise
        self._commit(Served(active, cand, want.share if cand is not None else 0.0))

    def _prepare(self, path: str, digest: str | None, fresh: dict[str, Engine]) -> Engine:
        """Load, index and replay a bundle beside the serving one (the caller's thread)."""
        self.loading = path
        started = time.monotonic()
        try:
            bundle = load_beside(path, self.active.bundle)
            if digest is not None and bundle.digest != digest:
                raise RolloutConflict(
                    f"the bundle at {path} is not the one recorded (manifest sha256 "
                    f"{bundle.digest[:12]}, recorded {digest[:12]}): roll out again"
                )
            engine = self._build(bundle)
            with self._dispatch:
                self._warming[id(engine)] = []
            fresh[bundle.digest] = engine
            engine.replay()
            engine.batcher.start()
            engine.recent.start()
        except ServiceError:
            self._metrics.bundle_loads.labels("refused").inc()
            raise
        finally:
            self.loading = None
        self._metrics.bundle_loads.labels("ok").inc()
        log.info("loaded %s beside the serving bundle in %.2f s", path, time.monotonic() - started)
        return engine

    def _commit(self, new: Served) -> None:
        """The swap: buffered events applied, then one reference assignment."""
        with self._dispatch:
            for engine in new.engines():
                for event_id, fields in self._warming.pop(id(engine), []):
                    engine.apply_event(event_id, fields)
            old = self.served
            if new.candidate is not None:
                new.candidate.variant = CANDIDATE
            new.active.variant = CONTROL
            self.served = new
        for engine in old.engines():
            if all(engine is not e for e in new.engines()):
                timer = threading.Timer(RETIRE_AFTER_S, _retire_held, [[engine]])
                timer.daemon = True
                timer.start()
        self._show(new)
        self.on_swap(new)
        log.info("serving %s", self.describe())

    def _discard(self, fresh: dict[str, Engine]) -> None:
        """Drop engines loaded for a rollout that did not happen."""
        with self._dispatch:
            for engine in fresh.values():
                self._warming.pop(id(engine), None)
        for engine in fresh.values():
            if all(engine is not e for e in self.served.engines()):
                _retire(engine)
        fresh.clear()

    def _show(self, s: Served) -> None:
        self._metrics.bundle_info.clear()
        m = s.active.bundle.manifest
        self._metrics.bundle_info.labels(CONTROL, s.active.bundle.digest, m.model).set(1)
        if s.candidate is not None:
            c = s.candidate.bundle
            self._metrics.bundle_info.labels(CANDIDATE, c.digest, c.manifest.model).set(1)
            self._metrics.touch_variant(CANDIDATE)


class _Held:
    """A lock already acquired, released by `with`."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _lead(
    s: Served, item_ids: list[str], knows: Callable[[Engine, str], bool]
) -> tuple[Engine, list[Engine]]:
    """The engine that takes a write about `item_ids` (the active one, unless only the
    candidate knows them: an item of the candidate bundle alone), and the others."""
    lead = s.active
    cand = s.candidate
    if cand is not None and not all(knows(lead, i) for i in item_ids):
        if all(knows(cand, i) for i in item_ids):
            lead = cand
    return lead, [e for e in s.engines() if e is not lead]


def _retire(engine: Engine) -> None:
    """Stop an engine's threads (a request still holding it searches inline)."""
    engine.batcher.stop()
    engine.recent.stop()


def _retire_held(held: list[Engine]) -> None:
    """`_retire` an engine the caller no longer holds, then collect: an engine and its threads'
    bound methods form cycles, and its matrices (hundreds of MB at Beauty's size) would wait for
    a full collection that allocations rarely trigger."""
    _retire(held.pop())
    gc.collect()
