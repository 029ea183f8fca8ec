"""Cold/warm splits: seeded item hold-out for cold start, per-user ordered 8:1:1 for warm items."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def _no_items() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Split:
    """A split of one dataset: a part label per interaction plus the cold item sets.

    `catalogue_items` are the items no interaction names (a plain catalogue's items nobody has
    touched yet): never drawn as cold (they have nothing to predict), never trained (no
    interaction reaches them), embedded by the projector like the cold items, and present in
    evaluation only as candidates of the all-items pool.
    """

    part: np.ndarray  # [n_interactions] int8, values of Part
    cold_valid_items: np.ndarray  # sorted int64 item indices
    cold_test_items: np.ndarray  # sorted int64 item indices
    seed: int
    cold_fraction: float
    catalogue_items: np.ndarray = field(default_factory=_no_items)  # sorted int64 item indices

    def warm_items(self, n_items: int) -> np.ndarray:
        """Items that train: every item neither held out as cold nor catalogue-only, sorted."""
        untrained = np.zeros(n_items, dtype=bool)
        untrained[self.cold_valid_items] = True
        untrained[self.cold_test_items] = True
        untrained[self.catalogue_items] = True
        return np.flatnonzero(~untrained)

    def cold_items(self) -> np.ndarray:
        """The held-out cold items (validation and test); catalogue-only items are not among
        them."""
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
            catalogue_items=self.catalogue_items,
        )

    @classmethod
    def load(cls, path: str) -> Split:
        """A saved split; files written before catalogue-only items load with none."""
        with np.load(path, allow_pickle=False) as z:
            catalogue = z["catalogue_items"] if "catalogue_items" in z.files else _no_items()
            return cls(
                part=z["part"],
                cold_valid_items=z["cold_valid_items"],
                cold_test_items=z["cold_test_items"],
                seed=int(z["seed"]),
                cold_fraction=float(z["cold_fraction"]),
                catalogue_items=catalogue.astype(np.int64),
            )


def catalogue_only_items(dataset: Dataset) -> np.ndarray:
    """Sorted items that no interaction names."""
    named = np.zeros(dataset.n_items, dtype=bool)
    named[dataset.items] = True
    return np.flatnonzero(~named).astype(np.int64)


def split_cold_warm(dataset: Dataset, cold_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out a seeded `cold_fraction` of items with all their interactions (half valid, half
    test), then split each user's remaining interactions by order 8:1:1. Users with fewer than
    10 warm interactions give their last one to test and the one before to validation; users
    with fewer than 3 keep everything in training (they have nothing to spare).

    Items that no interaction names are catalogue-only (`Split.catalogue_items`), never drawn:
    the fraction is of the other items, drawn in the order of one seeded permutation of all
    items, so a dataset where every item has interactions gets the same draw as ever.
    """
    if not 0.0 <= cold_fraction < 1.0:
        raise ValueError("cold_fraction must be in [0, 1)")
    rng = np.random.default_rng(seed)
    catalogue = catalogue_only_items(dataset)
    n_cold = int(round(cold_fraction * (dataset.n_items - len(catalogue))))
    order = rng.permutation(dataset.n_items)
    if len(catalogue):
        order = order[~np.isin(order, catalogue)]
    cold = order[:n_cold]
    cold_valid = np.sort(cold[: n_cold // 2])
    cold_test = np.sort(cold[n_cold // 2 :])

    part = np.full(dataset.n_interactions, Part.TRAIN, dtype=np.int8)
    part[np.isin(dataset.items, cold_valid)] = Part.COLD_VALID
    part[np.isin(dataset.items, cold_test)] = Part.COLD_TEST
    warm = np.flatnonzero(part == Part.TRAIN)
    part[warm] = _split_by_order(dataset.users[warm], dataset.order[warm], rng)
    return Split(part, cold_valid, cold_test, seed, cold_fraction, catalogue)


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
    empty = _no_items()
    catalogue = catalogue_only_items(dataset)
    return Split(part.copy(), empty, empty, seed=-1, cold_fraction=0.0, catalogue_items=catalogue)


def train_everything(dataset: Dataset, seed: int) -> Split:
    """Every interaction trains, nothing is held out or evaluated (the deploy refit); items that
    no interaction names are catalogue-only, embedded by the projector."""
    part = np.full(dataset.n_interactions, Part.TRAIN, dtype=np.int8)
    empty = _no_items()
    catalogue = catalogue_only_items(dataset)
    return Split(part, empty, empty, seed=seed, cold_fraction=0.0, catalogue_items=catalogue)
