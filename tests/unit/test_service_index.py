"""The item index: exact answers, exclusions, pools, upserts, removals, IVF recall, batching."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from service.batcher import SearchBatcher
from service.errors import IndexUnavailable
from service.index import Catalogue, KindIndex, Query
from service.search import gpu_available, make_backend, resolve_device


def _catalogue(
    dim: int = 16, compact_after: int = 512, backend: str = "flat", train: np.ndarray | None = None
) -> Catalogue:
    kinds = []
    for kind in ("warm", "cold"):
        be = make_backend(backend, "cpu", dim, train if train is not None else np.zeros((0, dim)))
        kinds.append(KindIndex(kind, dim, be, compact_after))  # type: ignore[arg-type]
    return Catalogue(kinds[0], kinds[1])


def _brute(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int, exclude=()) -> list[int]:
    scores = x @ q
    order = [int(ids[i]) for i in np.argsort(-scores, kind="stable") if ids[i] not in exclude]
    return order[:k]


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((200, 16)).astype(np.float32), rng.standard_normal((5, 16)).astype(
        np.float32
    )


def test_exact_single_and_batched_match_brute_force(data) -> None:
    x, qs = data
    cat = _catalogue()
    cat.upsert(np.arange(200), x, "warm")
    exclude = np.array([int(np.argmax(x @ qs[0])), 7, 9])
    single = cat.search([Query(qs[0], 10, exclude=exclude)])[0]
    assert [h.item for h in single] == _brute(x, np.arange(200), qs[0], 10, set(exclude.tolist()))
    batched = cat.search([Query(q, 10, exclude=exclude) for q in qs])
    for q, hits in zip(qs, batched, strict=True):
        assert [h.item for h in hits] == _brute(x, np.arange(200), q, 10, set(exclude.tolist()))
        assert all(h.kind == "warm" for h in hits)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


def test_pools_upserts_and_removals(data) -> None:
    x, qs = data
    cat = _catalogue()
    cat.upsert(np.arange(100), x[:100], "warm")
    cat.upsert(np.arange(100, 200), x[100:], "cold")
    assert cat.sizes() == {"warm": 100, "cold": 100}
    cold = cat.search([Query(qs[0], 5, pool="cold")])[0]
    assert {h.kind for h in cold} == {"cold"} and all(h.item >= 100 for h in cold)
    best = cat.search([Query(qs[0], 1)])[0][0].item
    assert cat.remove(best) and not cat.remove(best)
    assert best not in [h.item for h in cat.search([Query(qs[0], 50)])[0]]
    cat.upsert(np.array([3]), (10 * qs[0])[None, :], "cold")  # a warm item re-registered
    top = cat.search([Query(qs[0], 1)])[0][0]
    assert (top.item, top.kind) == (3, "cold") and cat.kind_of(3) == "cold"
    assert sum(cat.sizes().values()) == 199 or best == 3
    np.testing.assert_allclose(cat.vectors([3]), 10 * qs[0][None, :], rtol=1e-6)


def test_compaction_keeps_answers(data) -> None:
    x, qs = data
    cat = _catalogue(compact_after=8)
    cat.upsert(np.arange(200), x, "warm")
    removed = set(range(0, 60, 2))
    for item in removed:
        cat.remove(item)
    ids = np.array([i for i in range(200) if i not in removed])
    for q in qs:
        assert [h.item for h in cat.search([Query(q, 10)])[0]] == _brute(x[ids], ids, q, 10)
    assert cat._kinds["warm"].n_dead < 170 // 16  # compacted (past 8 and a 16th of the live)


def test_k_larger_than_the_catalogue(data) -> None:
    x, qs = data
    cat = _catalogue()
    cat.upsert(np.arange(5), x[:5], "warm")
    assert len(cat.search([Query(qs[0], 50, exclude=np.array([1]))])[0]) == 4
    assert cat.search([Query(qs[0], 5, pool="cold")])[0] == []


def test_ivf_recall_against_exact() -> None:
    """faiss contrib pattern: seeded clustered data, exact ground truth, recall@10 >= 0.9."""
    rng = np.random.default_rng(42)
    centers = rng.standard_normal((50, 32)).astype(np.float32)
    x = (centers[rng.integers(0, 50, 5000)] + 0.3 * rng.standard_normal((5000, 32))).astype(
        np.float32
    )
    qs = (centers[rng.integers(0, 50, 100)] + 0.3 * rng.standard_normal((100, 32))).astype(
        np.float32
    )
    exact, ivf = _catalogue(32), _catalogue(32, backend="ivf", train=x)
    assert ivf._kinds["warm"]._backend is not None  # really IVF
    for cat in (exact, ivf):
        cat.upsert(np.arange(5000), x, "warm")
    truth = exact.search([Query(q, 10) for q in qs])
    approx = ivf.search([Query(q, 10) for q in qs])
    recall = np.mean(
        [
            len({h.item for h in a} & {h.item for h in t}) / 10
            for a, t in zip(approx, truth, strict=True)
        ]
    )
    assert recall >= 0.9


def test_ivf_handles_upserts_removals_exclusions_and_compaction() -> None:
    """With nprobe = nlist an IVF-Flat index is exact: every answer must equal brute force."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((800, 16)).astype(np.float32)
    qs = rng.standard_normal((6, 16)).astype(np.float32)
    kinds = []
    for kind in ("warm", "cold"):
        be = make_backend("ivf", "cpu", 16, x, nlist=8, nprobe=8)
        assert be is not None
        kinds.append(KindIndex(kind, 16, be, compact_after=40))  # type: ignore[arg-type]
    cat = Catalogue(kinds[0], kinds[1])
    cat.upsert(np.arange(800), x, "warm")
    live = x.copy()
    alive = np.ones(800, bool)
    for item in range(0, 120, 2):  # 60 removals: one compaction on the way
        cat.remove(item)
        alive[item] = False
    moved = np.arange(1, 41, 2)  # upserts of warm items as cold, with new vectors
    live[moved] = rng.standard_normal((len(moved), 16)).astype(np.float32)
    cat.upsert(moved, live[moved], "cold")
    ids = np.flatnonzero(alive)
    for q in qs:
        exclude = np.array(_brute(live[ids], ids, q, 3))  # the 3 best are "seen"
        got = cat.search([Query(q, 10, exclude=exclude)])[0]
        assert [h.item for h in got] == _brute(live[ids], ids, q, 10, set(exclude.tolist()))
        cold = cat.search([Query(q, 5, pool="cold")])[0]
        assert [h.item for h in cold] == _brute(live[moved], moved, q, 5)
    assert cat.sizes() == {"warm": 740 - len(moved), "cold": len(moved)}
    assert kinds[0].n_dead < 40  # compacted, the IVF rebuilt from the live rows


def test_ivf_falls_back_to_exact_with_too_few_items() -> None:
    assert make_backend("ivf", "cpu", 8, np.zeros((20, 8), np.float32)) is None


def test_device_resolution() -> None:
    assert resolve_device("cpu") == "cpu"
    if not gpu_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(IndexUnavailable):
            resolve_device("gpu")


def test_concurrent_writes_and_searches(data) -> None:
    x, qs = data
    cat = _catalogue(compact_after=16)
    cat.upsert(np.arange(100), x[:100], "warm")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(100, 200):
                cat.upsert(np.array([i]), x[i : i + 1], "cold")
                cat.remove(i - 50)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    t = threading.Thread(target=write)
    t.start()
    while t.is_alive():
        for hits in cat.search([Query(q, 10) for q in qs]):
            assert len(hits) == 10 and len({h.item for h in hits}) == 10
    t.join()
    assert not errors and sum(cat.sizes().values()) == 100


def test_batcher_groups_concurrent_queries_and_passes_errors() -> None:
    seen_sizes: list[int] = []
    searching, gate = threading.Event(), threading.Event()

    def held_search(queries: list[Query]):
        seen_sizes.append(len(queries))
        if any(q.k == 0 for q in queries):
            raise RuntimeError("boom")
        searching.set()
        gate.wait(30)
        return [[] for _ in queries]

    batcher = SearchBatcher(held_search, max_batch=8)
    batcher.start()
    try:
        query = Query(np.zeros(2, np.float32), 1)
        first = batcher.submit(query)
        assert searching.wait(30)  # the first query is being searched, alone
        waiting = [batcher.submit(query) for _ in range(5)]  # queued meanwhile
        gate.set()
        assert [f.result(30) for f in [first, *waiting]] == [[]] * 6
        assert seen_sizes == [1, 5]  # the five that waited shared one search
        with pytest.raises(RuntimeError, match="boom"):
            batcher.search(Query(np.zeros(2, np.float32), 0))
    finally:
        batcher.stop()


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="faiss has no GPU support or sees no GPU")
def test_gpu_flat_matches_cpu_exact(data) -> None:  # pragma: no cover - needs faiss-gpu
    x, qs = data
    kinds = [KindIndex(k, 16, make_backend("flat", "gpu", 16, x), 8) for k in ("warm", "cold")]
    gpu, cpu = Catalogue(kinds[0], kinds[1]), _catalogue()
    for cat in (gpu, cpu):
        cat.upsert(np.arange(200), x, "warm")
        for item in range(0, 40, 3):
            cat.remove(item)  # past compact_after on the GPU side: rebuilt there
    queries = [Query(q, 10, exclude=np.array([5, 7])) for q in qs]
    for g, c in zip(gpu.search(queries), cpu.search(queries), strict=True):
        assert [h.item for h in g] == [h.item for h in c]
