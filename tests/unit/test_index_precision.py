"""Reduced-precision scoring (fp16, sq8, bf16) with an exact re-rank, and IVF, against exact search.

faiss contrib pattern: a seeded clustered set, ground truth by brute force in float64, overlap.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from service.index import Catalogue, KindIndex, Query
from service.precision import make_reduced_backend, rerank
from service.search import make_backend
from service.settings import Settings

N, DIM, N_QUERIES, K = 20_000, 384, 200, 20


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((100, DIM)).astype(np.float32)
    x = centers[rng.integers(0, 100, N)] + 0.5 * rng.standard_normal((N, DIM))
    qs = centers[rng.integers(0, 100, N_QUERIES)] + 0.5 * rng.standard_normal((N_QUERIES, DIM))
    x, qs = x.astype(np.float32), qs.astype(np.float32)
    truth = np.argsort(-(qs.astype(np.float64) @ x.T.astype(np.float64)), axis=1)[:, :K]
    return x, qs, truth


def _catalogue(x: np.ndarray, index_type: str = "flat", precision: str = "fp32") -> Catalogue:
    dim = x.shape[1]
    kinds = []
    for kind in ("warm", "cold"):
        backend = make_backend(index_type, "cpu", dim, x, precision=precision)
        kinds.append(KindIndex(kind, dim, backend, 512))  # type: ignore[arg-type]
    return Catalogue(kinds[0], kinds[1])


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(
        np.mean([len(set(f) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)])
    )


@pytest.mark.parametrize("precision", ["fp16", "sq8", "bf16"])
def test_reduced_precision_recall_at_20_against_exact(clustered, precision: str) -> None:
    x, qs, truth = clustered
    cat = _catalogue(x, precision=precision)
    backend = cat._kinds["warm"]._backend
    assert backend is not None and backend.oversample > 0  # really a reduced scan, re-ranked
    cat.upsert(np.arange(N), x, "warm")
    batched = cat.search([Query(q, K) for q in qs])
    single = [cat.search([Query(q, K)])[0] for q in qs[:50]]
    assert _recall([[h.item for h in hits] for hits in batched], truth) >= 0.99
    assert _recall([[h.item for h in hits] for hits in single], truth[:50]) >= 0.99
    for q, hits in zip(qs, batched, strict=True):  # re-ranked: the scores are exact
        exact = x[[h.item for h in hits]].astype(np.float64) @ q.astype(np.float64)
        np.testing.assert_allclose([h.score for h in hits], exact, rtol=1e-5, atol=1e-3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_ivf_recall_at_20_against_exact(clustered) -> None:
    """The approximate index at its defaults (nlist 4 sqrt(n), nprobe 16): recall@20 >= 0.95."""
    x, qs, truth = clustered
    cat = _catalogue(x, index_type="ivf")
    assert cat._kinds["warm"]._backend is not None  # really IVF
    cat.upsert(np.arange(N), x, "warm")
    found = cat.search([Query(q, K) for q in qs])
    assert _recall([[h.item for h in hits] for hits in found], truth) >= 0.95


@pytest.mark.parametrize("precision", ["fp16", "sq8", "bf16"])
def test_upserts_removals_exclusions_and_compaction(precision: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((800, 16)).astype(np.float32)
    qs = rng.standard_normal((6, 16)).astype(np.float32)
    kinds = [
        KindIndex(kind, 16, make_backend("flat", "cpu", 16, x, precision=precision), 40)  # type: ignore[arg-type]
        for kind in ("warm", "cold")
    ]
    cat = Catalogue(kinds[0], kinds[1])
    cat.upsert(np.arange(800), x, "warm")
    live, alive = x.copy(), np.ones(800, bool)
    for item in range(0, 120, 2):  # 60 removals: one compaction on the way
        assert cat.remove(item)
        alive[item] = False
    moved = np.arange(1, 41, 2)  # warm items re-registered as cold with new vectors
    live[moved] = rng.standard_normal((len(moved), 16)).astype(np.float32)
    cat.upsert(moved, live[moved], "cold")
    ids = np.flatnonzero(alive)
    for q in qs:
        order = [int(ids[i]) for i in np.argsort(-(live[ids] @ q), kind="stable")]
        exclude = np.array(order[:3])
        got = cat.search([Query(q, 10, exclude=exclude)])[0]
        assert [h.item for h in got] == order[3:13]
        np.testing.assert_allclose([h.score for h in got], live[order[3:13]] @ q, rtol=1e-5)
        cold = cat.search([Query(q, 5, pool="cold")])[0]
        assert [h.item for h in cold] == [int(i) for i in moved[np.argsort(-(live[moved] @ q))][:5]]
    assert cat.sizes() == {"warm": 740 - len(moved), "cold": len(moved)}
    assert kinds[0].n_dead < 40  # compacted, the quantized copy rebuilt from the live rows
    assert kinds[0]._backend is not None
    assert len(kinds[0]._backend) == kinds[0]._used  # type: ignore[arg-type]


def test_rerank_pads_and_skips_missing_candidates() -> None:
    x = np.eye(4, dtype=np.float32)
    q = np.array([[0.1, 0.4, 0.3, 0.2]], np.float32)
    scores, slots = rerank(x, q, np.array([[2, -1, 1]]), 3)
    assert slots.tolist() == [[1, 2, -1]]
    assert scores[0, :2].tolist() == pytest.approx([0.4, 0.3])
    assert scores[0, 2] == -np.inf


def test_setting_is_validated_and_defaults_to_exact() -> None:
    assert Settings().index_precision == "fp32"
    assert make_backend("flat", "cpu", 8, np.zeros((0, 8), np.float32)) is None  # no change
    assert Settings(index_precision="sq8").index_oversample == 4
    with pytest.raises(ValidationError):
        Settings(index_precision="int4")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(index_precision="fp16", index_type="ivf")
    with pytest.raises(ValidationError):
        Settings(index_oversample=0)
    with pytest.raises(ValueError, match="flat"):
        make_backend("ivf", "cpu", 8, np.zeros((400, 8), np.float32), precision="fp16")
    with pytest.raises(ValueError, match="unknown"):
        make_reduced_backend("bf16", 8, np.zeros((0, 8), np.float32), 4)
    assert make_reduced_backend("sq8", 8, np.zeros((0, 8), np.float32), 4) is None  # untrained
