"""The BPR sampler: every interaction once per epoch, negatives never the user's own items."""

import numpy as np

from training.protocol.sampling import BprSampler


def test_epoch_covers_every_interaction_once_with_true_negatives() -> None:
    rng = np.random.default_rng(0)
    users = rng.integers(0, 20, 500)
    items = rng.integers(0, 40, 500)
    sampler = BprSampler(users, items, n_items=40, batch_size=64, seed=1)
    assert len(sampler) == 8
    seen_u, seen_i, seen_n = [], [], []
    for u, p, n in sampler.epoch():
        assert len(u) <= 64
        seen_u.append(u), seen_i.append(p), seen_n.append(n)
    u, p, n = map(np.concatenate, (seen_u, seen_i, seen_n))
    assert sorted(zip(u, p, strict=True)) == sorted(zip(users, items, strict=True))
    assert not sampler.is_positive(u, n).any()


def test_sampler_is_seeded() -> None:
    users, items = np.arange(100) % 10, np.arange(100) % 30
    a = [n for _, _, n in BprSampler(users, items, 30, 32, seed=5).epoch()]
    b = [n for _, _, n in BprSampler(users, items, 30, 32, seed=5).epoch()]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
