"""Follow the Redis event stream so this replica serves what other replicas registered."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from service.errors import StoreUnavailable
from service.store import Fields, Store

log = logging.getLogger(__name__)
RETRY_S = 0.5


class Follower:
    """A thread applying every stream event after `start_id` (blocking reads, no polling gap)."""

    def __init__(
        self,
        store: Store,
        apply: Callable[[str, Fields], None],
        start_id: str,
        block_ms: int = 50,
    ) -> None:
        self._store = store
        self._apply = apply
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
