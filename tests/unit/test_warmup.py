"""The warm-up rule (service/warmup.py) as pure functions and on an index of its own."""

from __future__ import annotations

import numpy as np

from models.idmap import IdMap
from service.index import Catalogue, KindIndex
from service.warmup import Warmup, warm_vector, warm_weight


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_the_weight_grows_with_the_count() -> None:
    weights = [warm_weight(n, 3.0) for n in range(0, 30)]
    assert weights[0] == 0.0 and warm_weight(3, 3.0) == 0.5
    assert all(b > a for a, b in zip(weights, weights[1:], strict=False))
    assert weights[-1] < 1.0
    assert warm_weight(1, 0.0) == 1.0 and warm_weight(0, 0.0) == 0.0


def test_the_vector_turns_toward_the_takers_and_keeps_its_norm() -> None:
    rng = np.random.default_rng(0)
    p = (3.0 * rng.standard_normal(8)).astype(np.float32)
    m = rng.standard_normal(8).astype(np.float32)
    assert np.array_equal(warm_vector(p, m, 0, 3.0), p)  # no taker: the projection
    cosines = [_cos(warm_vector(p, m, n, 3.0), m) for n in range(0, 20)]
    assert all(b > a for a, b in zip(cosines, cosines[1:], strict=False))
    for n in (1, 5, 50):
        assert np.isclose(np.linalg.norm(warm_vector(p, m, n, 3.0)), np.linalg.norm(p), rtol=1e-5)
    assert _cos(warm_vector(p, m, 10_000, 3.0), m) > 0.999


def _catalogue(dim: int) -> Catalogue:
    return Catalogue(KindIndex("warm", dim, None, 512), KindIndex("cold", dim, None, 512))


def test_a_cold_item_warms_up_once_per_known_taker_and_trained_items_do_not() -> None:
    dim = 4
    users = np.eye(dim, dtype=np.float32)[[0, 1, 1, 2]]  # u0 .. u3
    cat = _catalogue(dim)
    cat.upsert(np.asarray([0]), np.asarray([[0, 0, 0, 2.0]], np.float32), "warm")  # trained
    warmup = Warmup(cat, users, IdMap(["u0", "u1", "u2", "u3"]), k0=1.0)
    projection = np.asarray([[0, 0, 0, 2.0]], np.float32)
    warmup.upsert(np.asarray([1]), projection)  # cold

    assert warmup.took(1, "u1") and not warmup.took(1, "u1")  # a repeat counts once
    assert not warmup.took(1, "stranger")  # no bundle embedding: not counted
    assert not warmup.took(0, "u1")  # a trained item never moves
    assert np.array_equal(cat.vectors([0])[0], [0, 0, 0, 2.0])
    assert warmup.warmth(1) == (1, 0.5) and warmup.warmth(0) == (0, 0.0)
    want = warm_vector(projection[0], users[1], 1, 1.0)
    assert np.allclose(cat.vectors([1])[0], want)

    warmup.took_many([(1, "u2"), (1, "u3")])  # u2 has u1's embedding: mean (0, 2/3, 1/3, 0)
    mean = users[1:4].mean(axis=0)
    assert np.allclose(cat.vectors([1])[0], warm_vector(projection[0], mean, 3, 1.0))

    newer = np.asarray([[2.0, 0, 0, 0]], np.float32)  # re-registered: its takers stay
    warmup.upsert(np.asarray([1]), newer)
    assert np.allclose(cat.vectors([1])[0], warm_vector(newer[0], mean, 3, 1.0))
    assert warmup.warmth(1) == (3, 0.75)


def test_off_leaves_the_projection() -> None:
    cat = _catalogue(2)
    warmup = Warmup(cat, np.eye(2, dtype=np.float32), IdMap(["a", "b"]), k0=1.0, enabled=False)
    warmup.upsert(np.asarray([0]), np.asarray([[1.0, 0.0]], np.float32))
    assert not warmup.took(0, "b") and warmup.warmth(0) is None
    assert np.array_equal(cat.vectors([0])[0], [1.0, 0.0])
