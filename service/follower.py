"""Follow the Redis event stream so this replica serves what other replicas registered."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from service.errors import StoreUnavailable
from service.store import Fields, Store, stream_version

log = logging.getLogger(__name__)
RETRY_S = 0.5
GAP_CHECK_S = 5.0  # how often to check that the stream was not trimmed past this reader


class Follower:
    """A thread applying every stream event after `start_id` (blocking reads, no polling gap).

    `start_id` None: the replica has not read Redis yet (it was down at start); the thread calls
    `on_gap` (a full replay) as soon as Redis answers, then follows.
    """

    def __init__(
        self,
        store: Store,
        apply: Callable[[str, Fields], None],
        start_id: str | None,
        block_ms: int = 50,
        on_gap: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._apply = apply
        self._on_gap = on_gap
        self._checked = time.monotonic()
        self.last_id = start_id
        self._block_ms = block_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Follower:
        self._thread = threading.Thread(target=self._run, name="coldrec-follow", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.last_id is None:  # Redis was down at start: catch up first
                    self._resync()
                    log.info("caught up with Redis at %s", self.last_id)
                    continue
                events = self._store.read_events(self.last_id, self._block_ms)
            except StoreUnavailable:
                self._stop.wait(RETRY_S)  # counted by the store; retry until Redis is back
                continue
            for event_id, fields in events:
                try:
                    self._apply(event_id, fields)
                except Exception:  # one bad event must not stop replication
                    log.exception("could not apply stream event %s", event_id)
                self.last_id = event_id
            if time.monotonic() - self._checked > GAP_CHECK_S:
                self.check_gap()

    def check_gap(self) -> None:
        """If events this replica never read were trimmed away, rebuild from Redis (replay).

        Redis 6 keeps no record of trimmed ids, so a gap is assumed when the oldest event left is
        newer than the last one read (at worst a needless, idempotent replay).
        """
        self._checked = time.monotonic()
        if self.last_id is None or self.last_id == "0-0":
            return
        try:
            first = self._store.first_event_id()
            if first is None or stream_version(first) <= stream_version(self.last_id):
                return
            log.warning("stream trimmed past %s (oldest %s): replaying Redis", self.last_id, first)
            self._resync()
        except StoreUnavailable:
            return  # checked again after the next interval

    def _resync(self) -> None:
        """Note the newest event, rebuild from Redis (`on_gap`), then follow from that event."""
        newest = self._store.last_event_id()
        self._on_gap()
        self.last_id = newest
