"""Synthetic generators: seeded, well-formed, and their item features really carry the signal."""

from __future__ import annotations

import numpy as np

from training.data.synthetic import checkerboard_dataset, checkerboard_features, synthetic_dataset


def _matrix(ds) -> np.ndarray:  # small dense user x item matrix, tests only
    r = np.zeros((ds.n_users, ds.n_items))
    r[ds.users, ds.items] = 1.0
    return r


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = synthetic_dataset(seed=3), synthetic_dataset(seed=3), synthetic_dataset(seed=4)
    for name in ("users", "items", "order"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for m in a.modalities:
        np.testing.assert_array_equal(a.modalities[m], b.modalities[m])
    assert not np.array_equal(a.modalities["text"], c.modalities["text"])
    assert a.n_interactions != c.n_interactions or not np.array_equal(a.items, c.items)


def test_shape_and_contract() -> None:
    ds = synthetic_dataset(n_users=50, n_items=40, interactions_per_user=(3, 7))
    assert ds.stats() == {
        "users": 50,
        "items": 40,
        "interactions": ds.n_interactions,
        "modalities": {"image": 16, "text": 32},
    }
    per_user = np.bincount(ds.users, minlength=50)
    assert per_user.min() >= 3 and per_user.max() <= 7
    assert len(set(zip(ds.users.tolist(), ds.items.tolist(), strict=True))) == ds.n_interactions
    for u in range(50):  # order is the draw step 0..n-1
        np.testing.assert_array_equal(np.sort(ds.order[ds.users == u]), np.arange(per_user[u]))
    assert all(f.dtype == np.float32 for f in ds.modalities.values())


def test_feature_similarity_predicts_co_consumption() -> None:
    ds = synthetic_dataset()
    co = _matrix(ds).T @ _matrix(ds)  # [I, I] co-consumption counts
    upper = np.triu_indices(ds.n_items, 1)
    for name, feats in ds.modalities.items():
        sim = _unit(feats) @ _unit(feats).T  # [I, I]
        corr = np.corrcoef(sim[upper], co[upper])[0, 1]
        assert corr > 0.3, f"{name}: correlation {corr:.2f}"


def test_cold_items_are_rankable_from_features_alone() -> None:
    """Hold out items; score them for each user by feature similarity to the user's warm items."""
    ds = synthetic_dataset(seed=1)
    r = _matrix(ds)
    cold = np.random.default_rng(0).permutation(ds.n_items)[:40]
    warm = np.setdiff1d(np.arange(ds.n_items), cold)
    feats = _unit(ds.modalities["text"])
    profile = r[:, warm] @ feats[warm]  # [U, d]
    scores = profile @ feats[cold].T  # [U, n_cold]
    truth = r[:, cold]
    aucs = []
    for u in range(ds.n_users):
        pos, neg = scores[u, truth[u] == 1], scores[u, truth[u] == 0]
        if len(pos) and len(neg):
            aucs.append((pos[:, None] > neg[None, :]).mean())
    assert np.mean(aucs) > 0.75


def test_checkerboard_parity() -> None:
    ds = checkerboard_dataset()
    assert (ds.users % 2 == ds.items % 2).all()
    assert ds.n_interactions == 16 * 8
    feats = ds.modalities["text"]
    np.testing.assert_array_equal(feats[:, :2].argmax(axis=1), np.arange(16) % 2)
    held = checkerboard_dataset(hold_out_diagonal=True)
    assert not (held.users == held.items).any()
    assert held.n_interactions == 16 * 7


def test_checkerboard_new_even_item_is_closest_to_even_items() -> None:
    ds = checkerboard_dataset()
    new = checkerboard_features(np.array([0]), seed=99)["text"]  # [1, 8]
    sim = (_unit(new) @ _unit(ds.modalities["text"]).T)[0]
    assert sim[::2].min() > sim[1::2].max()
