"""Test helper (not a test module): a tiny dataset with random histories."""

from __future__ import annotations

import numpy as np

from models.idmap import IdMap
from training.data.dataset import Dataset


def random_histories(rng: np.random.Generator, n_users: int = 40, n_items: int = 30) -> Dataset:
    """`n_users` x `n_items`, each user with 1 to 29 distinct random items drawn from `rng` (some
    sparse, <= 5, some active, >= 20), in user order; no modalities."""
    counts = rng.integers(1, 30, n_users)
    users = np.repeat(np.arange(n_users), counts)
    items = np.concatenate([rng.choice(n_items, c, replace=False) for c in counts])
    return Dataset(
        name="tiny",
        user_ids=IdMap(f"u{i}" for i in range(n_users)),
        item_ids=IdMap(f"i{i}" for i in range(n_items)),
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        order=np.arange(len(users), dtype=np.int64),
    )
