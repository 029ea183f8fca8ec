"""Micro-batching: concurrent recommendation searches are gathered into one batched search.

One flat query over 100k items is memory-bound (~7 ms); a batch of queries is one GEMM that reads
the item matrix once (DESIGN.md, measured). Requests that arrive while a search runs wait for the
next one and go together; a lone request goes at once, with no added delay.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from service.index import Hit, Query

log = logging.getLogger(__name__)
SearchFn = Callable[[list[Query]], list[list[Hit]]]


class SearchBatcher:
    """A worker thread that runs `search` over batches of up to `max_batch` queued queries."""

    def __init__(self, search: SearchFn, max_batch: int = 64) -> None:
        self._search = search
        self._max_batch = max_batch
        self._queue: queue.Queue[tuple[Query, Future[list[Hit]]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.batches = 0  # searches run, for tests and logs
        self.queries = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="coldrec-search", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def search(self, query: Query) -> list[Hit]:
        """Blocking: the hits of `query`, searched together with whatever else is waiting."""
        return self.submit(query).result()

    def submit(self, query: Query) -> Future[list[Hit]]:
        """The future hits of `query` (an event loop awaits it through `asyncio.wrap_future`)."""
        future: Future[list[Hit]] = Future()
        if self._thread is None:  # not started (e.g. a unit test): search directly
            self._run_batch([(query, future)])
        else:
            self._queue.put((query, future))
        return future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[Query, Future[list[Hit]]]]) -> None:
        try:
            results = self._search([q for q, _ in batch])
        except Exception as exc:  # handed to every waiting request, which maps it to a problem
            log.exception("batched search failed")
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.queries += len(batch)
        for (_, future), hits in zip(batch, results, strict=True):
            future.set_result(hits)
