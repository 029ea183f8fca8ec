"""The torch search backend (GPU without faiss-gpu; bf16 on the CPU) and the blocked top-k.

The contract is the CPU backends': the same hits as exact search through the item index, with
removals, exclusions and compaction. It runs on the CPU device here; on a machine with CUDA the
same contract runs on the GPU (`-m gpu`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_devices import DEVICES

import service.search as search
from service.index import Catalogue, KindIndex, Query
from service.topk import BLOCK, MIN_WIDTH, top_k
from service.torch_search import TorchBackend


@pytest.mark.parametrize("n", [MIN_WIDTH, 100_003])
@pytest.mark.parametrize("k", [1, 20, 80])
def test_blocked_top_k_matches_torch_topk(n: int, k: int) -> None:
    gen = torch.Generator().manual_seed(n + k)
    scores = torch.randn(7, n, generator=gen)
    scores[1] = torch.randint(0, 5, (n,), generator=gen).float()  # heavy ties
    scores[2, : n // 2] = -torch.inf  # masked-out items
    scores[3, -1] = 100.0  # the best score in the ragged tail
    values, cols = top_k(scores, k)
    expected = torch.topk(scores, k, dim=1).values
    assert torch.equal(values, expected)
    assert torch.equal(torch.gather(scores, 1, cols), values)  # each index holds its value
    for row in cols:  # no column twice
        assert len(set(row.tolist())) == k
    assert cols[3, 0].item() == n - 1


def test_blocked_top_k_falls_back_where_blocks_do_not_pay() -> None:
    scores = torch.randn(2, MIN_WIDTH)
    for k in (MIN_WIDTH // (4 * BLOCK) + 1, MIN_WIDTH + 5):  # too many blocks; k beyond n
        values, cols = top_k(scores, k)
        assert torch.equal(values, torch.topk(scores, min(k, MIN_WIDTH), dim=1).values)
        assert torch.equal(torch.gather(scores, 1, cols), values)


def _catalogues(device: str, precision: str, x: np.ndarray) -> tuple[Catalogue, Catalogue]:
    """(torch-backed, exact reference) catalogues of dim x.shape[1], compacting after 40."""
    dim = x.shape[1]
    kinds = ("warm", "cold")
    backed = [KindIndex(k, dim, TorchBackend(device, precision, dim, 4), 40) for k in kinds]  # type: ignore[arg-type]
    exact = [KindIndex(k, dim, None, 40) for k in kinds]  # type: ignore[arg-type]
    return Catalogue(*backed), Catalogue(*exact)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_torch_backend_answers_like_exact_search(device: str, precision: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3000, 24)).astype(np.float32)  # > 1024: the device copy grows
    qs = rng.standard_normal((9, 24)).astype(np.float32)
    backed, exact = _catalogues(device, precision, x)
    for cat in (backed, exact):
        cat.upsert(np.arange(3000), x, "warm")
        for item in range(0, 800, 2):  # 400 removals: a compaction on the way (past 3000 / 16)
            assert cat.remove(item)
        cat.upsert(np.arange(1, 41, 2), x[1:41:2] * 1.5, "cold")  # re-registered as cold
    assert backed._kinds["warm"].n_dead < 3000 // 16  # compacted: the device copy was rebuilt
    warm = backed._kinds["warm"]
    assert len(warm._backend) == warm._used  # type: ignore[arg-type]
    for pool in ("all", "warm", "cold"):
        queries = [Query(q, 10, pool, exclude=np.array([5, 7, 9])) for q in qs]
        got = backed.search(queries)
        want = exact.search(queries)
        one = [backed.search([q])[0] for q in queries[:3]]  # a lone query, the same contract
        for g, w in zip(got[:3], one, strict=True):
            assert [h.item for h in g] == [h.item for h in w]
        for g, w in zip(got, want, strict=True):
            assert [h.item for h in g] == [h.item for h in w]  # re-ranked: exact order
            np.testing.assert_allclose([h.score for h in g], [h.score for h in w], rtol=1e-5)
            assert not {5, 7, 9} & {h.item for h in g}


def test_backend_reports_reduced_precision_and_refuses_unknown() -> None:
    assert TorchBackend("cpu", "fp32", 8, 4).oversample == 0  # exact scores
    assert TorchBackend("cpu", "bf16", 8, 4).oversample == 4  # the index re-ranks
    with pytest.raises(ValueError, match="unknown index precision"):
        TorchBackend("cpu", "int4", 8, 4)
    empty = TorchBackend("cpu", "fp32", 8, 4)
    scores, slots = empty.search(np.ones((2, 8), np.float32), 5)
    assert scores.shape == slots.shape == (2, 0)
    with pytest.raises(AssertionError, match="appended"):
        empty.add(np.ones((1, 8), np.float32), 3)


class _Recorded:
    """Stands in for TorchBackend where no GPU exists: records what it was built with."""

    def __init__(self, device: str, precision: str, dim: int, oversample: int) -> None:
        self.args = (device, precision, dim, oversample)
        self.oversample = 0


def test_gpu_without_faiss_gpu_searches_through_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with CUDA torch but a CPU-only faiss: `auto` picks the GPU, served by torch."""
    monkeypatch.setattr(search, "cuda_available", lambda: True)
    monkeypatch.setattr(search, "faiss_gpu_available", lambda: False)
    monkeypatch.setattr(search, "TorchBackend", _Recorded)
    assert search.resolve_device("auto") == "gpu"
    assert search.resolve_device("gpu") == "gpu"
    train = np.zeros((0, 8), np.float32)
    flat = search.make_backend("flat", "gpu", 8, train)
    assert isinstance(flat, _Recorded) and flat.args == ("cuda", "fp32", 8, 4)
    half = search.make_backend("flat", "gpu", 8, train, precision="fp16", oversample=6)
    assert isinstance(half, _Recorded) and half.args == ("cuda", "fp16", 8, 6)
    assert search.make_backend("flat", "cpu", 8, train) is None  # cpu asked: exact CPU path


def test_no_gpu_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "cuda_available", lambda: False)
    monkeypatch.setattr(search, "faiss_gpu_available", lambda: False)
    assert search.resolve_device("auto") == "cpu"
    with pytest.raises(search.IndexUnavailable, match="neither faiss"):
        search.resolve_device("gpu")
