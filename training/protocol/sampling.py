"""BPR triples: each training interaction once per epoch, with a uniform negative the user lacks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class BprSampler:
    """Seeded epochs of (user, positive, negative) index batches, vectorised.

    Negatives are drawn uniformly from the training items and redrawn where they hit one of the
    user's own training items (up to `max_rounds`; only a user who owns nearly every item can
    exhaust that).
    """

    def __init__(
        self, users: np.ndarray, items: np.ndarray, n_items: int, batch_size: int, seed: int
    ) -> None:
        if len(users) == 0:
            raise ValueError("no training interactions")
        self.users = users.astype(np.int64)
        self.items = items.astype(np.int64)
        self.n_items = n_items
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self._positive_keys = np.unique(self.users * n_items + self.items)  # sorted

    def __len__(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = users * self.n_items + items
        pos = np.searchsorted(self._positive_keys, keys)
        pos = np.minimum(pos, len(self._positive_keys) - 1)
        hit: np.ndarray = self._positive_keys[pos] == keys
        return hit

    def negatives(self, users: np.ndarray, max_rounds: int = 100) -> np.ndarray:
        neg = self.rng.integers(0, self.n_items, len(users))
        for _ in range(max_rounds):
            clash = self.is_positive(users, neg)
            if not clash.any():
                break
            neg[clash] = self.rng.integers(0, self.n_items, int(clash.sum()))
        return neg

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        order = self.rng.permutation(len(self.users))
        for start in range(0, len(order), self.batch_size):
            take = order[start : start + self.batch_size]
            users = self.users[take]
            yield users, self.items[take], self.negatives(users)
