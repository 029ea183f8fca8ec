"""The item index: warm and cold items apart, upserts and removals, one lock around FAISS.

Rows live in a growable float32 matrix per kind ("slots"). A removal marks its slot dead (a
tombstone filtered out of results); once the dead slots number `compact_after` and a sixteenth of
the live ones (so a million-item kind is not copied every few hundred deletions: each compaction
stalled searches 3.4 s at 1M), the kind is rebuilt from its live rows. Keeping the two kinds
apart makes `pool=warm|cold` a search of one index, not a filter.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from service.precision import rerank
from service.search import Backend, exact_search

Kind = Literal["warm", "cold"]
Pool = Literal["all", "warm", "cold"]
KINDS: tuple[Kind, Kind] = ("warm", "cold")


@dataclass
class Query:
    """One recommendation search: `vector` [dim], top `k`, excluding item ids `exclude`."""

    vector: np.ndarray  # [dim] float32
    k: int
    pool: Pool = "all"
    exclude: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # item ids


@dataclass(frozen=True)
class Hit:
    item: int  # internal item id
    score: float
    kind: Kind


class KindIndex:
    """The items of one kind: slot storage, item id <-> slot, and the search backend."""

    def __init__(self, kind: Kind, dim: int, backend: Backend | None, compact_after: int) -> None:
        self.kind = kind
        self.dim = dim
        self._backend = backend
        self._compact_after = compact_after
        self._vectors = np.zeros((1024, dim), dtype=np.float32)  # [capacity, dim]
        self._items = np.full(1024, -1, dtype=np.int64)  # slot -> item id, -1 = dead
        self._used = 0
        self._slot_of: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._slot_of)

    @property
    def n_dead(self) -> int:
        return self._used - len(self._slot_of)

    def __contains__(self, item: int) -> bool:
        return item in self._slot_of

    def vector(self, item: int) -> np.ndarray:
        row: np.ndarray = self._vectors[self._slot_of[item]].copy()  # [dim]
        return row

    def add(self, items: np.ndarray, vectors: np.ndarray) -> None:
        """Append (or replace) `items` [m] with `vectors` [m, dim]."""
        for item in items.tolist():
            self._kill(int(item))
        self._grow(self._used + len(items))
        first = self._used
        self._vectors[first : first + len(items)] = vectors
        self._items[first : first + len(items)] = items
        for offset, item in enumerate(items.tolist()):
            self._slot_of[int(item)] = first + offset
        self._used += len(items)
        if self._backend is not None:
            self._backend.add(self._vectors[first : self._used], first)
        self._maybe_compact()

    def remove(self, item: int) -> bool:
        removed = self._kill(item)
        self._maybe_compact()
        return removed

    def search(self, queries: list[Query]) -> list[list[Hit]]:
        """Top-k live, non-excluded items of this kind for each query."""
        if not queries or not self._slot_of:
            return [[] for _ in queries]
        q = np.ascontiguousarray(np.stack([x.vector for x in queries]), dtype=np.float32)
        dead = np.flatnonzero(self._items[: self._used] < 0)
        excluded = [self._slots(x.exclude) for x in queries]
        masks = [np.concatenate([dead, e]) for e in excluded]
        want = max(x.k for x in queries)
        fetch = min(self._used, want + max(len(m) for m in masks))
        while True:
            scores, slots = self._search(q, fetch, masks)
            out = [
                self._filter(scores[r], slots[r], set(excluded[r].tolist()), queries[r].k)
                for r in range(len(queries))
            ]
            short = any(len(o) < min(x.k, len(self)) for o, x in zip(out, queries, strict=True))
            if not short or fetch >= self._used:
                return out
            fetch = min(self._used, fetch * 2)  # an approximate index may return fewer: widen

    def _search(
        self, q: np.ndarray, fetch: int, masks: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._backend is not None and self._backend.oversample:  # reduced precision
            wide = min(self._used, fetch * self._backend.oversample)
            _, candidates = self._backend.search(q, wide)
            return rerank(self._vectors[: self._used], q, candidates, fetch)
        if self._backend is not None:
            return self._backend.search(q, fetch)
        return exact_search(self._vectors[: self._used], q, fetch, masks)

    def _filter(
        self, scores: np.ndarray, slots: np.ndarray, excluded: set[int], k: int
    ) -> list[Hit]:
        kind = self.kind
        hits: list[Hit] = []
        for score, slot in zip(scores.tolist(), slots.tolist(), strict=True):
            if slot < 0 or slot >= self._used or slot in excluded or score == -np.inf:
                continue
            item = int(self._items[slot])
            if item < 0:
                continue
            hits.append(Hit(item, float(score), kind))
            if len(hits) == k:
                break
        return hits

    def _slots(self, items: np.ndarray) -> np.ndarray:
        slots = [self._slot_of.get(int(i), -1) for i in items.tolist()]
        return np.asarray([s for s in slots if s >= 0], dtype=np.int64)

    def _kill(self, item: int) -> bool:
        slot = self._slot_of.pop(item, None)
        if slot is None:
            return False
        self._items[slot] = -1
        return True

    def _grow(self, need: int) -> None:
        if need <= len(self._items):
            return
        cap = max(need, 2 * len(self._items))
        vectors = np.zeros((cap, self.dim), dtype=np.float32)
        vectors[: self._used] = self._vectors[: self._used]
        items = np.full(cap, -1, dtype=np.int64)
        items[: self._used] = self._items[: self._used]
        self._vectors, self._items = vectors, items

    def _maybe_compact(self) -> None:
        if self.n_dead >= max(self._compact_after, len(self._slot_of) // 16):
            self.compact()

    def compact(self) -> None:
        """Drop dead slots: renumber the live rows and rebuild the backend from them."""
        live = np.flatnonzero(self._items[: self._used] >= 0)
        n = len(live)
        self._vectors[:n] = self._vectors[live]
        self._items[:n] = self._items[live]
        self._items[n:] = -1
        self._used = n
        self._slot_of = {int(item): slot for slot, item in enumerate(self._items[:n].tolist())}
        if self._backend is not None:
            self._backend.rebuild(self._vectors[:n])


class Catalogue:
    """Every servable item, warm and cold, behind one lock (FAISS add and search never overlap)."""

    def __init__(self, warm: KindIndex, cold: KindIndex) -> None:
        if (warm.kind, cold.kind) != ("warm", "cold"):
            raise ValueError("Catalogue(warm, cold) takes the two kinds in that order")
        self._kinds: dict[Kind, KindIndex] = {"warm": warm, "cold": cold}
        self._lock = threading.Lock()

    def upsert(self, items: np.ndarray, vectors: np.ndarray, kind: Kind) -> None:
        """Insert or replace `items` [m] (internal ids) with `vectors` [m, dim] as `kind`."""
        other: Kind = "cold" if kind == "warm" else "warm"
        with self._lock:
            for item in items.tolist():
                self._kinds[other].remove(int(item))
            self._kinds[kind].add(np.asarray(items, np.int64), vectors)

    def remove(self, item: int) -> bool:
        """Retire `item`; False when it was not in the index."""
        with self._lock:
            return any([self._kinds[k].remove(item) for k in KINDS])

    def kind_of(self, item: int) -> Kind | None:
        with self._lock:
            return next((k for k in KINDS if item in self._kinds[k]), None)

    def vectors(self, items: list[int]) -> np.ndarray:
        """Embeddings of the servable items among `items`: [m', dim]."""
        with self._lock:
            rows = [idx.vector(i) for i in items for idx in self._kinds.values() if i in idx]
        dim = self._kinds["warm"].dim
        return np.stack(rows) if rows else np.zeros((0, dim), np.float32)

    def sizes(self) -> dict[Kind, int]:
        with self._lock:
            return {k: len(idx) for k, idx in self._kinds.items()}

    def search(self, queries: list[Query]) -> list[list[Hit]]:
        """One batched search per kind; results merged by score, best first."""
        merged: list[list[Hit]] = [[] for _ in queries]
        with self._lock:
            for kind, idx in self._kinds.items():
                rows = [r for r, q in enumerate(queries) if q.pool in ("all", kind)]
                for r, hits in zip(rows, idx.search([queries[r] for r in rows]), strict=True):
                    merged[r].extend(hits)
        return [
            sorted(hits, key=lambda h: -h.score)[: q.k]
            for hits, q in zip(merged, queries, strict=True)
        ]
