"""Seeded synthetic datasets whose item features carry the preference signal (cold start learnable).

`synthetic_dataset` draws latent user and item factors; users consume items by a softmax over
their affinities and every modality is a noisy linear view of the item factors, so an item's
features predict who will consume it. `checkerboard_dataset` is the tiny fixture of DESIGN.md:
even users like even items, odd users odd items, features = parity one-hot plus noise.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.idmap import IdMap
from training.data.dataset import Dataset

DEFAULT_MODALITIES: Mapping[str, int] = {"text": 32, "image": 16}
CHECKERBOARD_MODALITIES: Mapping[str, int] = {"text": 8}


def synthetic_dataset(
    n_users: int = 300,
    n_items: int = 200,
    n_factors: int = 8,
    interactions_per_user: tuple[int, int] = (5, 30),
    modalities: Mapping[str, int] | None = None,
    noise: float = 0.1,
    seed: int = 0,
    sharpness: float = 3.0,
) -> Dataset:
    """A latent-factor dataset.

    Each user draws between `interactions_per_user[0]` and `[1]` distinct items (inclusive), one
    at a time, with probability softmax(sharpness * u.v / sqrt(n_factors)) over the items not yet
    drawn; `order` is the draw step. Modality m is `V @ W_m + noise * N(0, 1)`, with V the item
    factors [n_items, n_factors] and W_m a random [n_factors, d_m] matrix. Same seed, same data.
    """
    lo, hi = interactions_per_user
    if not 1 <= lo <= hi <= n_items:
        raise ValueError("interactions_per_user must satisfy 1 <= lo <= hi <= n_items")
    dims = dict(DEFAULT_MODALITIES if modalities is None else modalities)
    rng = np.random.default_rng(seed)
    user_f = rng.standard_normal((n_users, n_factors))  # [U, k]
    item_f = rng.standard_normal((n_items, n_factors))  # [I, k]
    counts = rng.integers(lo, hi + 1, size=n_users)  # [U]
    scale = sharpness / np.sqrt(n_factors)
    items = []
    for u in range(n_users):
        logits = scale * (item_f @ user_f[u])  # [I]
        # Gumbel top-k = sequential sampling without replacement, in draw order.
        keys = logits + rng.gumbel(size=n_items)
        items.append(np.argsort(-keys, kind="stable")[: counts[u]])
    feats = {
        name: _linear_view(item_f, dim, noise, np.random.default_rng([seed, k + 1]))
        for k, (name, dim) in enumerate(sorted(dims.items()))
    }
    return Dataset(
        name=f"synthetic-{seed}",
        user_ids=IdMap(f"u{u}" for u in range(n_users)),
        item_ids=IdMap(f"i{i}" for i in range(n_items)),
        users=np.repeat(np.arange(n_users, dtype=np.int64), counts),
        items=np.concatenate(items).astype(np.int64),
        order=np.concatenate([np.arange(c, dtype=np.int64) for c in counts]),
        modalities=feats,
    )


def _linear_view(
    factors: np.ndarray, dim: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    proj = rng.standard_normal((factors.shape[1], dim)) / np.sqrt(factors.shape[1])  # [k, d]
    view: np.ndarray = factors @ proj + noise * rng.standard_normal((len(factors), dim))  # [I, d]
    return view.astype(np.float32)


def checkerboard_dataset(
    n_users: int = 16,
    n_items: int = 16,
    modalities: Mapping[str, int] | None = None,
    noise: float = 0.1,
    seed: int = 0,
    hold_out_diagonal: bool = False,
) -> Dataset:
    """User u consumes every item i with i % 2 == u % 2 (order = ascending i).

    With `hold_out_diagonal` the pairs (u, u) are left out, so the right answer for user u is
    known (implicit's fixture). Features come from `checkerboard_features`.
    """
    users, items = [], []
    for u in range(n_users):
        liked = np.arange(u % 2, n_items, 2, dtype=np.int64)
        if hold_out_diagonal:
            liked = liked[liked != u]
        users.append(np.full(len(liked), u, dtype=np.int64))
        items.append(liked)
    user_arr = np.concatenate(users)
    return Dataset(
        name=f"checkerboard-{seed}",
        user_ids=IdMap(f"u{u}" for u in range(n_users)),
        item_ids=IdMap(f"i{i}" for i in range(n_items)),
        users=user_arr,
        items=np.concatenate(items),
        order=np.concatenate([np.arange(len(x), dtype=np.int64) for x in items]),
        modalities=checkerboard_features(np.arange(n_items) % 2, modalities, noise, seed),
    )


def checkerboard_features(
    parities: np.ndarray,
    modalities: Mapping[str, int] | None = None,
    noise: float = 0.1,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Features of items with the given parities (0 even, 1 odd): one-hot in the first two
    columns plus Gaussian noise everywhere. Use it to make a new cold "even" item for a test.
    """
    dims = dict(CHECKERBOARD_MODALITIES if modalities is None else modalities)
    parities = np.asarray(parities, dtype=np.int64)
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, dim in sorted(dims.items()):
        if dim < 2:
            raise ValueError(f"modality {name!r} needs at least 2 dims for the parity one-hot")
        feats = noise * rng.standard_normal((len(parities), dim))  # [n, d]
        feats[np.arange(len(parities)), parities] += 1.0
        out[name] = feats.astype(np.float32)
    return out
