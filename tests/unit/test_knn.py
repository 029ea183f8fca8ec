"""Chunked cosine kNN graphs: a hand-checked 5-point case, chunked == unchunked, normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.graph import sym_normalize
from models.knn import (
    Edges,
    combine,
    cosine_topk,
    edge_spmm,
    knn_edges,
    knn_graph,
    sym_normalize_edges,
)

# Two pairs of nearly parallel points and one point nearest to p2.
POINTS = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [-1.0, 0.5]])


def cos(i: int, j: int) -> float:
    a, b = POINTS[i], POINTS[j]
    return float(a @ b / (a.norm() * b.norm()))


def test_topk_by_hand() -> None:
    got = cosine_topk(POINTS, k=2)
    # Each row keeps itself (cosine 1) and its nearest neighbour.
    assert got.tolist() == [[0, 1], [1, 0], [2, 3], [3, 2], [4, 2]]


def test_normalised_graph_by_hand() -> None:
    dense = knn_graph(POINTS, k=2, chunk=2).to_dense()
    c01, c23, c42 = cos(0, 1), cos(2, 3), cos(4, 2)
    degree = [1 + c01, 1 + c01, 1 + c23, 1 + c23, 1 + c42]  # row sums incl. the self-loop
    expected = torch.zeros(5, 5)
    for i, j, c in [(0, 1, c01), (1, 0, c01), (2, 3, c23), (3, 2, c23), (4, 2, c42)]:
        expected[i, j] = c / math.sqrt(degree[i] * degree[j])
    for i in range(5):
        expected[i, i] = 1.0 / degree[i]
    torch.testing.assert_close(dense, expected)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 50, 1000])
def test_chunked_equals_unchunked(chunk: int) -> None:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32))
    whole = cosine_topk(x, k=4, chunk=10_000)
    parts = cosine_topk(x, k=4, chunk=chunk)
    assert torch.equal(whole, parts)
    torch.testing.assert_close(
        knn_graph(x, 4, chunk=chunk).to_dense(), knn_graph(x, 4, chunk=10_000).to_dense()
    )


def test_topk_matches_dense_reference() -> None:
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32))
    unit = torch.nn.functional.normalize(x, dim=1)
    reference = (unit @ unit.T).topk(5, dim=1).indices
    got = cosine_topk(x, k=5, chunk=9)
    assert torch.equal(got.sort(1).values, reference.sort(1).values)


def test_sym_normalize_matches_numpy_version() -> None:
    rng = np.random.default_rng(2)
    rows, cols = rng.integers(0, 12, 40), rng.integers(0, 12, 40)
    values = rng.random(40).astype(np.float32)
    ours = sym_normalize_edges(
        Edges(torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(values), 12)
    ).to_sparse()
    theirs = sym_normalize(rows, cols, values, 12)
    torch.testing.assert_close(ours.to_dense(), theirs.to_dense())


def test_edge_weights_carry_gradients() -> None:
    h = POINTS.clone().requires_grad_(True)
    edges = knn_edges(h, k=2, indices=cosine_topk(h, 2))
    (torch.sparse.mm(edges.to_sparse(), torch.ones(5, 1)).sum()).backward()
    assert h.grad is not None and torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0


def test_combine_sums_duplicates() -> None:
    a = Edges(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([1.0, 2.0]), 2)
    b = Edges(torch.tensor([0]), torch.tensor([1]), torch.tensor([3.0]), 2)
    dense = combine([a, b.scaled(0.5)]).to_sparse().to_dense()
    torch.testing.assert_close(dense, torch.tensor([[0.0, 2.5], [2.0, 0.0]]))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        cosine_topk(POINTS, k=6)
    with pytest.raises(ValueError):
        cosine_topk(POINTS, k=0)
    with pytest.raises(ValueError):
        cosine_topk(POINTS[0], k=1)


def test_edge_spmm_matches_dense_product_and_its_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("models.knn.EDGE_CHUNK", 7)  # several edge blocks in the backward
    rng = np.random.default_rng(3)
    rows = torch.from_numpy(rng.integers(0, 9, 30))  # duplicates included
    cols = torch.from_numpy(rng.integers(0, 9, 30))
    values = torch.rand(30, dtype=torch.float64, requires_grad=True)
    x = torch.randn(9, 4, dtype=torch.float64, requires_grad=True)
    out = edge_spmm(Edges(rows, cols, values, 9), x)
    dense = torch.zeros(9, 9, dtype=torch.float64).index_put((rows, cols), values, accumulate=True)
    torch.testing.assert_close(out, dense @ x)
    assert torch.autograd.gradcheck(
        lambda v, y: edge_spmm(Edges(rows, cols, v, 9), y), (values, x), eps=1e-6
    )
