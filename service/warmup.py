"""Warm-up between retrains: a cold item's embedding moves toward the users who took it.

The rule (docs/SERVICE.md, "Warm-up"), for a cold item with projection `p` (its bundle projector
over its features) taken by `n` distinct users known to the serving bundle, whose embeddings
average to `m`:

    w = n / (n + k0)
    v = |p| * d / |d|,   d = (1 - w) * p / |p| + w * m / |m|

so the item keeps its projection's loudness (norm) and only turns toward its takers, more with
every new taker (w = 0 with none, 1/2 at n = k0). Trained (warm) items never move; users the
bundle has no embedding for (known only online) do not count.

Nothing here is stored as a vector: the takers are the online seen sets in Redis (written in
the same MULTI/EXEC as the interaction), so every replica, every restart and every bundle of a
hot swap recomputes `v` from its own user embeddings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from models.idmap import IdMap
from service.floor import model_part
from service.index import Catalogue


def warm_weight(n: int, k0: float) -> float:
    """The weight of the takers' mean after `n` distinct takers: n / (n + k0), 0 with none."""
    if n <= 0:
        return 0.0
    if k0 <= 0:
        return 1.0
    return n / (n + k0)


def warm_vector(projection: np.ndarray, taker_mean: np.ndarray, n: int, k0: float) -> np.ndarray:
    """The warmed embedding [dim] of an item: its `projection` [dim] turned toward `taker_mean`
    [dim] by `warm_weight(n, k0)`, with the projection's norm kept (see the module docstring)."""
    p = np.asarray(projection, dtype=np.float64)
    m = np.asarray(taker_mean, dtype=np.float64)
    w = warm_weight(n, k0)
    p_norm, m_norm = float(np.linalg.norm(p)), float(np.linalg.norm(m))
    if w == 0.0 or m_norm == 0.0 or p_norm == 0.0:
        return np.asarray(projection, dtype=np.float32).copy()
    d = (1.0 - w) * p / p_norm + w * m / m_norm
    d_norm = float(np.linalg.norm(d))
    if d_norm == 0.0:  # the takers point exactly away at w = 1/2: keep the projection
        return np.asarray(projection, dtype=np.float32).copy()
    return (p_norm * d / d_norm).astype(np.float32)


@dataclass
class ItemWarmth:
    """One cold item's warm-up: its projection, the takers counted and their embeddings' sum."""

    projection: np.ndarray  # [dim] float32
    takers: set[int] = field(default_factory=set)  # bundle user rows
    total: np.ndarray | None = None  # [dim] float64, sum of the takers' embeddings


class Warmup:
    """The warm-up state of one engine (one bundle): cold items indexed through it.

    Every cold upsert of the engine goes through `upsert`, so a re-registration keeps its
    takers and is re-warmed; `took` adds one taker and re-adds one vector. One lock covers the
    state and the index writes it makes, so concurrent takers and upserts never lose a taker.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        users: np.ndarray,
        user_ids: IdMap,
        k0: float,
        enabled: bool = True,
    ) -> None:
        self.catalogue = catalogue
        self.users = users  # [n_users, dim], the bundle's user embeddings
        self.user_ids = user_ids
        self.k0 = k0
        self.enabled = enabled
        self._items: dict[int, ItemWarmth] = {}
        self._lock = threading.Lock()

    def upsert(self, items: np.ndarray, projections: np.ndarray) -> None:
        """Index cold `items` [m] with `projections` [m, dim], warmed where they have takers
        (rows of a bundle with a content floor carry the content after: `model_part`)."""
        vectors = np.array(model_part(self.catalogue, items, projections), np.float32)  # [m, dim]
        with self._lock:
            for j, item in enumerate(items.tolist()):
                state = self._items.get(int(item))
                if state is not None:
                    state.projection = vectors[j].copy()
                    vectors[j] = self._vector(state)
            self.catalogue.upsert(items, vectors, "cold")

    def took(self, item: int, user: str) -> bool:
        """`user` took cold `item`: count them (once) and re-add the item's vector. False when
        nothing changed (off, a warm or retired item, a user the bundle does not know, a repeat)."""
        return self.took_many([(item, user)]) > 0

    def took_many(self, pairs: list[tuple[int, str]]) -> int:
        """`took` for many (item, user) pairs; each changed item is re-added once. Returns how
        many items changed."""
        if not self.enabled:
            return 0
        with self._lock:
            changed = {item for item, user in pairs if self._count(item, user)}
            if changed:
                items = np.asarray(sorted(changed), dtype=np.int64)
                vectors = np.stack([self._vector(self._items[int(i)]) for i in items])
                self.catalogue.upsert(items, vectors, "cold")
        return len(changed)

    def warmth(self, item: int) -> tuple[int, float] | None:
        """(takers counted, weight) of a cold item; None when warm-up is off."""
        if not self.enabled:
            return None
        with self._lock:
            state = self._items.get(item)
            n = 0 if state is None else len(state.takers)
        return n, warm_weight(n, self.k0)

    def _count(self, item: int, user: str) -> bool:
        """Add `user` to `item`'s takers (lock held); True when the item's vector changes."""
        row = self.user_ids.get(user)
        if row is None or self.catalogue.kind_of(item) != "cold":
            return False
        state = self._items.get(item)
        if state is None:
            projection = self.catalogue.vectors([item])  # [1, dim]: no taker yet, unwarmed
            if not len(projection):
                return False
            state = self._items[item] = ItemWarmth(projection[0].astype(np.float32))
        if row in state.takers:
            return False
        state.takers.add(row)
        u = self.users[row].astype(np.float64)
        state.total = u if state.total is None else state.total + u
        return True

    def _vector(self, state: ItemWarmth) -> np.ndarray:
        n = len(state.takers)
        if n == 0 or state.total is None:
            return state.projection
        return warm_vector(state.projection, state.total / n, n, self.k0)
