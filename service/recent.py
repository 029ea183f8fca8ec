"""Write-behind of recent recommendation lists: Redis is written after the response, not before.

Remembering what was recommended (for hit counting) costs a Redis round trip that the user does
not need to wait for. A thread writes whatever is queued in one pipeline; `flush()` waits until
everything queued before it is written, and the engine flushes before recording interactions, so
an interaction on this replica always finds the lists of the recommendations it answered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from service.errors import StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recent:
    """One answered recommendation: the items (external ids) shown to `user` at `ts`."""

    user: str
    items: list[str]
    ts: float


class RecentWriter:
    """A thread writing queued `Recent` lists with `write` (a batch at a time).

    Unstarted (unit tests), `submit` writes at once. A Redis failure drops the batch (the store
    counts it): recommendations must keep coming while Redis is away. At most `max_queued`
    lists wait; beyond that the oldest are dropped.
    """

    def __init__(self, write: Callable[[list[Recent]], None], max_queued: int = 10_000) -> None:
        self._write = write
        self._max = max_queued
        self._cond = threading.Condition()
        self._queue: list[Recent] = []
        self._queued = 0  # lists submitted so far
        self._done = 0  # lists written or dropped so far
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="coldrec-recent", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, then end the thread (waiting at most `timeout` seconds)."""
        if self._thread is not None:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join(timeout=timeout)
            self._thread = None

    def submit(self, recent: Recent) -> None:
        if self._thread is None:
            self._write_batch([recent])
            return
        with self._cond:
            if len(self._queue) >= self._max:
                self._queue.pop(0)
                self._done += 1
            self._queue.append(recent)
            self._queued += 1
            self._cond.notify_all()

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until every list submitted before this call is written; False on a timeout."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
                if not self._queue:
                    return  # stopping, and nothing is left to write
                batch, self._queue = self._queue, []
            self._write_batch(batch)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _write_batch(self, batch: list[Recent]) -> None:
        try:
            self._write(batch)
        except StoreUnavailable:
            pass  # counted by the store; the lists of an outage are not remembered
        except Exception:  # the writer thread must outlive any one bad batch
            log.exception("could not remember %d recommendation lists", len(batch))
