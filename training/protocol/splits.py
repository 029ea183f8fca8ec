"""Cold/warm splits: seeded item hold-out for cold start, per-user ordered 8:1:1 for warm items."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import scipy.sparse as sp

from training.data.dataset import Dataset


class Part(IntEnum):
    """Where one interaction goes. Stored as int8 per interaction."""

    TRAIN = 0
    VALID = 1
    TEST = 2
    COLD_VALID = 3
    COLD_TEST = 4


@dataclass(frozen=True)
class Split:
    """A split of one dataset: a part label per interaction plus the cold item sets."""

    part: np.ndarray  # [n_interactions] int8, values of Part
    cold_valid_items: np.ndarray  # sorted int64 item indices
    cold_test_items: np.ndarray  # sorted int64 item indices
    seed: int
    cold_fraction: float

    def warm_items(self, n_items: int) -> np.ndarray:
        """Items that train: every item not held out as cold, sorted."""
        cold = np.zeros(n_items, dtype=bool)
        cold[self.cold_valid_items] = True
        cold[self.cold_test_items] = True
        return np.flatnonzero(~cold)

    def cold_items(self) -> np.ndarray:
        return np.union1d(self.cold_valid_items, self.cold_test_items)

    def matrix(self, dataset: Dataset, *parts: Part) -> sp.csr_matrix:
        """Binary CSR [n_users, n_items] of the interactions in `parts` (duplicates collapse)."""
        mask = np.isin(self.part, np.asarray(parts, dtype=np.int8))
        data = np.ones(int(mask.sum()), dtype=np.float32)
        m = sp.csr_matrix(
            (data, (dataset.users[mask], dataset.items[mask])),
            shape=(dataset.n_users, dataset.n_items),
        )
        m.data[:] = 1.0
        return m

    def save(self, path: str) -> None:
        np.savez_compressed(
            path,
            part=self.part,
            cold_valid_items=self.cold_valid_items,
            cold_test_items=self.cold_test_items,
            seed=np.int64(self.seed),
            cold_fraction=np.float64(self.cold_fraction),
        )

    @classmethod
    def load(cls, path: str) -> Split:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                part=z["part"],
                cold_valid_items=z["cold_valid_items"],
                cold_test_items=z["cold_test_items"],
                seed=int(z["seed"]),
                cold_fraction=float(z["cold_fraction"]),
            )


def split_cold_warm(dataset: Dataset, cold_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out a seeded `cold_fraction` of items with all their interactions (half valid, half
    test), then split each user's remaining interactions by order 8:1:1. Users with fewer than
    10 warm interactions give their last one to test and the one before to validation; users
    with fewer than 3 keep everything in training (they have nothing to spare).
    """
    if not 0.0 <= cold_fraction < 1.0:
        raise ValueError("cold_fraction must be in [0, 1)")
    rng = np.random.default_rng(seed)
    n_cold = int(round(cold_fraction * dataset.n_items))
    cold = rng.permutation(dataset.n_items)[:n_cold]
    cold_valid = np.sort(cold[: n_cold // 2])
    cold_test = np.sort(cold[n_cold // 2 :])

    part = np.full(dataset.n_interactions, Part.TRAIN, dtype=np.int8)
    part[np.isin(dataset.items, cold_valid)] = Part.COLD_VALID
    part[np.isin(dataset.items, cold_test)] = Part.COLD_TEST
    warm = np.flatnonzero(part == Part.TRAIN)
    part[warm] = _split_by_order(dataset.users[warm], dataset.order[warm], rng)
    return Split(part, cold_valid, cold_test, seed, cold_fraction)


def _split_by_order(users: np.ndarray, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-user 8:1:1 by order, vectorised: rank each interaction within its user."""
    # Random tie-break so equal orders (e.g. shipped parts) are not split by item index.
    tie = rng.random(len(users))
    idx = np.lexsort((tie, order, users))  # by user, then order
    sorted_users = users[idx]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)  # 0-based position in history
    n = np.repeat(counts, counts)

    n_test = np.where(n >= 10, np.round(n * 0.1), np.where(n >= 3, 1, 0)).astype(np.int64)
    n_valid = n_test.copy()
    labels = np.full(len(users), Part.TRAIN, dtype=np.int8)
    labels[rank >= n - n_test] = Part.TEST
    labels[(rank >= n - n_test - n_valid) & (rank < n - n_test)] = Part.VALID
    out = np.empty_like(labels)
    out[idx] = labels
    return out


def shipped_split(dataset: Dataset) -> Split:
    """The split the source ships (e.g. TikTok's train/valid/test matrices), with no cold items:
    for comparing with published numbers measured on that split."""
    if dataset.shipped_part is None:
        raise ValueError(f"{dataset.name} ships no split of its own")
    part = np.asarray(dataset.shipped_part, dtype=np.int8)  # 0/1/2 = TRAIN/VALID/TEST
    empty = np.zeros(0, dtype=np.int64)
    return Split(part.copy(), empty, empty, seed=-1, cold_fraction=0.0)
