"""Evaluation: hand-computed Recall/NDCG, masking, candidate pools, and the track definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from tiny_data import random_histories

from training.data.dataset import Dataset
from training.evaluation.ranking import (
    evaluate_tracks,
    metric_names,
    per_user_metrics,
    random_tracks,
    rank_metrics,
)
from training.protocol.splits import Part, split_cold_warm

L3 = 1.0 / math.log2(3)  # discount of rank 2: 0.63093


def csr(rows: list[list[int]], n_items: int = 6) -> sp.csr_matrix:
    """Binary CSR from a list of item lists, one per user."""
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c), np.float32), (r, c)), shape=(len(rows), n_items))


# 3 users x 6 items. item_emb = I_6, so score(u, i) = USERS[u, i]: the rows are the scores.
USERS = np.array(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # user 0: prefers low ids
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # user 1: prefers high ids
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # user 2: has no truth, never evaluated
    ],
    dtype=np.float32,
)
ITEMS = np.eye(6, dtype=np.float32)
EXCLUDE = csr([[0], [], [1]])  # user 0 trained on item 0
TRUTH = csr([[2, 5], [5], []])


def test_hand_computed_all_candidates() -> None:
    # user 0: item 0 masked, ranking 1,2,3,4,5; T = {2, 5}
    #   top1 [1]: recall 0, ndcg 0
    #   top3 [1,2,3]: hit at rank 2 -> recall 1/2; DCG = 1/log2(3); IDCG (2 hits) = 1 + 1/log2(3)
    # user 1: ranking 5,4,3,2,1,0; T = {5}: hit at rank 1 -> recall 1, ndcg 1 for K = 1 and 3
    # user 2: no truth -> skipped, n_users = 2
    m = rank_metrics(USERS, ITEMS, exclude=EXCLUDE, truth=TRUTH, candidates=None, ks=(1, 3))
    assert m["n_users"] == 2
    assert m["recall@1"] == pytest.approx((0 + 1) / 2)
    assert m["recall@3"] == pytest.approx((0.5 + 1) / 2)
    assert m["ndcg@1"] == pytest.approx((0 + 1) / 2)
    assert m["ndcg@3"] == pytest.approx((L3 / (1 + L3) + 1) / 2)  # (0.38685 + 1) / 2


def test_candidates_restrict_the_ranking() -> None:
    # candidates {2,3,4,5}
    # user 0: ranking 2,3,4,5; T = {2, 5}
    #   top1 [2]: recall 1/2; ndcg = 1 / IDCG(min(2, 1) = 1 hit) = 1
    #   top3 [2,3,4]: recall 1/2; ndcg = 1 / (1 + 1/log2(3)) = 0.61315
    # user 1: ranking 5,4,3,2; T = {5}: all metrics 1
    cand = np.array([False, False, True, True, True, True])
    m = rank_metrics(USERS, ITEMS, exclude=EXCLUDE, truth=TRUTH, candidates=cand, ks=(1, 3))
    assert m["n_users"] == 2
    assert m["recall@1"] == pytest.approx((0.5 + 1) / 2)
    assert m["recall@3"] == pytest.approx((0.5 + 1) / 2)
    assert m["ndcg@1"] == pytest.approx(1.0)
    assert m["ndcg@3"] == pytest.approx((1 / (1 + L3) + 1) / 2)


def test_truth_is_restricted_to_candidates() -> None:
    # candidates {0..4}: user 0's T becomes {2} (5 is not rankable), user 1's T is empty -> skipped
    # user 0: ranking 1,2,3,4; top1 [1]: 0; top3 [1,2,3]: recall 1, ndcg = (1/log2(3)) / 1
    cand = np.array([True, True, True, True, True, False])
    m = rank_metrics(USERS, ITEMS, exclude=EXCLUDE, truth=TRUTH, candidates=cand, ks=(1, 3))
    assert m["n_users"] == 1
    assert m["recall@1"] == 0.0
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["ndcg@3"] == pytest.approx(L3)


def test_fewer_candidates_than_k() -> None:
    # candidates {4,5}, K = 10, 20, 50 all exceed the pool of 2
    # user 0: ranking 4,5; T = {5}: hit at rank 2 -> recall 1, ndcg = 1/log2(3)
    # user 1: ranking 5,4; T = {5}: recall 1, ndcg 1
    cand = np.array([False, False, False, False, True, True])
    m = rank_metrics(USERS, ITEMS, exclude=EXCLUDE, truth=TRUTH, candidates=cand)
    assert set(m) == {*metric_names(), "n_users"}
    assert m["n_users"] == 2
    for k in (10, 20, 50):
        assert m[f"recall@{k}"] == pytest.approx(1.0)
        assert m[f"ndcg@{k}"] == pytest.approx((L3 + 1) / 2)


def test_masked_items_never_hit() -> None:
    # user 0's truth {0} is also a training item: it scores -inf and may fill a top-K slot only
    # when fewer than K candidates are left, and even then it is not a hit.
    truth = csr([[0], [], []])
    m = rank_metrics(USERS, ITEMS, exclude=EXCLUDE, truth=truth, candidates=None, ks=(1, 6))
    assert m["n_users"] == 1
    assert m["recall@1"] == 0.0
    assert m["recall@6"] == 0.0
    cand = np.array([True, True, False, False, False, False])
    excl = csr([[0, 1], [], []])
    m = rank_metrics(USERS, ITEMS, exclude=excl, truth=truth, candidates=cand, ks=(2,))
    assert m["recall@2"] == 0.0


def test_users_argument_and_no_truth_skipped() -> None:
    m = rank_metrics(
        USERS, ITEMS, exclude=EXCLUDE, truth=TRUTH, candidates=None, users=np.array([1, 2]), ks=(1,)
    )
    assert m["n_users"] == 1  # user 2 has no truth
    assert m["recall@1"] == pytest.approx(1.0)
    m = rank_metrics(
        USERS, ITEMS, exclude=EXCLUDE, truth=TRUTH, candidates=None, users=np.array([2]), ks=(1,)
    )
    assert m["n_users"] == 0
    assert m["recall@1"] == 0.0


def _naive(scores: np.ndarray, exclude: sp.csr_matrix, truth: sp.csr_matrix, k: int) -> float:
    """Loop reference for mean Recall@k over users with truth (all items are candidates)."""
    out = []
    for u in range(scores.shape[0]):
        t = set(truth[u].indices)
        if not t:
            continue
        s = scores[u].copy()
        s[exclude[u].indices] = -np.inf
        top = np.argsort(-s, kind="stable")[:k]
        out.append(len(t & set(top.tolist())) / len(t))
    return float(np.mean(out))


def test_chunking_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items = 37, 50
    u = rng.standard_normal((n_users, 8)).astype(np.float32)
    v = rng.standard_normal((n_items, 8)).astype(np.float32)
    exclude = sp.random(n_users, n_items, density=0.2, format="csr", random_state=1)
    truth = sp.random(n_users, n_items, density=0.1, format="csr", random_state=2)
    truth = truth - truth.multiply(exclude > 0)
    truth.eliminate_zeros()
    scores = u @ v.T

    def score(chunk: np.ndarray, cand: np.ndarray) -> object:
        import torch

        return torch.from_numpy(scores[np.ix_(chunk, cand)])

    users, small = per_user_metrics(
        score, exclude=exclude, truth=truth, candidates=None, ks=(5,), chunk_size=4
    )
    _, big = per_user_metrics(score, exclude=exclude, truth=truth, candidates=None, ks=(5,))
    np.testing.assert_allclose(small, big)
    assert small[:, 0].mean() == pytest.approx(_naive(scores, exclude, truth, 5))
    assert len(users) == int((np.diff(truth.indptr) > 0).sum())


def _dataset(n_users: int = 40, n_items: int = 30, seed: int = 0) -> Dataset:
    return random_histories(np.random.default_rng(seed), n_users, n_items)


def test_tracks_follow_their_definitions() -> None:
    ds = _dataset()
    split = split_cold_warm(ds, cold_fraction=0.2, seed=0)
    rng = np.random.default_rng(1)
    u = rng.standard_normal((ds.n_users, 4)).astype(np.float32)
    v = rng.standard_normal((ds.n_items, 4)).astype(np.float32)
    tracks = evaluate_tracks(u, v, ds, split)
    assert set(tracks) == {"warm", "sparse", "active", "cold_only", "cold_all"}

    train = split.matrix(ds, Part.TRAIN)
    n_train = np.diff(train.indptr)
    warm = np.zeros(ds.n_items, dtype=bool)
    warm[split.warm_items(ds.n_items)] = True
    trained = np.flatnonzero(n_train > 0)
    test = split.matrix(ds, Part.TEST)
    kw = {"exclude": train, "truth": test, "candidates": warm}
    assert tracks["warm"] == pytest.approx(rank_metrics(u, v, **kw, users=trained))
    sparse = np.flatnonzero((n_train > 0) & (n_train <= 5))
    assert tracks["sparse"] == pytest.approx(rank_metrics(u, v, **kw, users=sparse))
    active = np.flatnonzero(n_train >= 20)
    assert tracks["active"] == pytest.approx(rank_metrics(u, v, **kw, users=active))

    cold = split.matrix(ds, Part.COLD_TEST)
    cold_mask = np.zeros(ds.n_items, dtype=bool)
    cold_mask[split.cold_test_items] = True
    only = rank_metrics(u, v, exclude=train, truth=cold, candidates=cold_mask, users=trained)
    assert tracks["cold_only"] == pytest.approx(only)
    every = rank_metrics(u, v, exclude=train, truth=cold, candidates=None, users=trained)
    assert tracks["cold_all"] == pytest.approx(every)

    valid = evaluate_tracks(u, v, ds, split, phase="valid")
    kw["truth"] = split.matrix(ds, Part.VALID)
    assert valid["warm"] == pytest.approx(rank_metrics(u, v, **kw, users=trained))


def test_no_cold_items_omits_cold_tracks_and_random_is_seeded() -> None:
    ds = _dataset()
    split = split_cold_warm(ds, cold_fraction=0.0, seed=0)
    u = np.ones((ds.n_users, 2), dtype=np.float32)
    v = np.ones((ds.n_items, 2), dtype=np.float32)
    assert set(evaluate_tracks(u, v, ds, split)) == {"warm", "sparse", "active"}
    a = random_tracks(ds, split, seed=3)
    assert set(a) == {"warm", "sparse", "active"}
    assert a == random_tracks(ds, split, seed=3)
    assert 0.0 < a["warm"]["recall@50"] <= 1.0


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        rank_metrics(USERS, ITEMS[:5], exclude=EXCLUDE, truth=TRUTH, candidates=None)
