"""Sparse kNN item graphs, built in row chunks: never a dense items x items matrix held whole.

LATTICE and MICRO (MODELS.md 1.1-1.2) keep, per item, the k most cosine-similar items (the item
itself included: its similarity 1 is the maximum, an implicit self-loop), weighted by the cosine,
then normalise D^-1/2 A D^-1/2 with row degrees. The originals build a dense I x I similarity
(15 GB for Amazon Electronics); here top-k runs over blocks of `chunk` rows, so the peak is
chunk x I floats, and the graph lives as COO triplets.

Index selection (top-k) carries no gradient; `edge_cosine` recomputes the kept similarities from
the embeddings, so a learned graph is differentiable in its edge weights, as in the originals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_CHUNK = 2048
EDGE_CHUNK = 1 << 18  # edges per block in the edge-weight gradient: EDGE_CHUNK x d floats


@dataclass
class Edges:
    """A sparse n x n matrix as COO triplets; duplicates allowed until `to_sparse`."""

    rows: Tensor  # [E] int64
    cols: Tensor  # [E] int64
    values: Tensor  # [E] float32, may carry gradients
    n: int

    def scaled(self, weight: Tensor | float) -> Edges:
        return Edges(self.rows, self.cols, self.values * weight, self.n)

    def detached(self) -> Edges:
        return Edges(self.rows, self.cols, self.values.detach(), self.n)

    def to_sparse(self) -> Tensor:
        """Coalesced sparse COO [n, n] (duplicates summed); differentiable in `values`."""
        index = torch.stack([self.rows, self.cols])
        return torch.sparse_coo_tensor(
            index, self.values, (self.n, self.n), check_invariants=False
        ).coalesce()


@torch.no_grad()
def cosine_topk(x: Tensor, k: int, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Indices of each row's k most cosine-similar rows of `x` (itself included): [n, k].

    Processed `chunk` rows at a time: the largest temporary is [chunk, n].
    """
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d feature matrix, got shape {list(x.shape)}")
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    if chunk < 1:
        raise ValueError("chunk must be positive")
    unit = F.normalize(x.detach().float(), dim=1)  # [n, d]
    out = torch.empty(n, k, dtype=torch.int64, device=x.device)
    for start in range(0, n, chunk):
        sim = unit[start : start + chunk] @ unit.T  # [c, n]
        out[start : start + chunk] = sim.topk(k, dim=1).indices
    return out


def knn_pairs(indices: Tensor) -> tuple[Tensor, Tensor]:
    """(rows, cols) of the directed kNN graph given `indices` [n, k] from `cosine_topk`."""
    n, k = indices.shape
    rows = torch.arange(n, device=indices.device).repeat_interleave(k)  # [n * k]
    return rows, indices.reshape(-1)


def edge_cosine(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """cos(x_rows, x_cols) per edge: [E], differentiable in `x`."""
    unit = F.normalize(x, dim=1)
    return (unit[rows] * unit[cols]).sum(1)


def sym_normalize_edges(edges: Edges) -> Edges:
    """D^-1/2 A D^-1/2 with D the row sums, on triplets; differentiable in the values.

    Negative cosines are clipped to 0 first so that degrees stay positive (the self-loop keeps
    every degree >= 1 for a kNN graph).
    """
    values = edges.values.clamp(min=0.0)
    degree = torch.zeros(edges.n, dtype=values.dtype, device=values.device)
    degree = degree.index_add(0, edges.rows, values)
    inv_sqrt = torch.where(degree > 0, degree.clamp(min=1e-12).rsqrt(), torch.zeros_like(degree))
    return Edges(
        edges.rows, edges.cols, values * inv_sqrt[edges.rows] * inv_sqrt[edges.cols], edges.n
    )


def knn_edges(
    x: Tensor,
    k: int,
    chunk: int = DEFAULT_CHUNK,
    indices: Tensor | None = None,
    normalize: bool = True,
) -> Edges:
    """The cosine kNN graph of the rows of `x` as triplets: N(kNN(cos x)), or kNN(cos x).

    Pass `indices` (from `cosine_topk`) to reuse a neighbour selection; edge weights are then
    recomputed from `x`, with gradients when `x` has them.
    """
    if indices is None:
        indices = cosine_topk(x, k, chunk)
    rows, cols = knn_pairs(indices)
    edges = Edges(rows, cols, edge_cosine(x, rows, cols), x.shape[0])
    return sym_normalize_edges(edges) if normalize else edges


@torch.no_grad()
def knn_graph(x: Tensor, k: int, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Frozen normalised kNN graph of the rows of `x`: sparse COO [n, n], no gradients."""
    return knn_edges(x.detach().float(), k, chunk).to_sparse()


def combine(parts: list[Edges]) -> Edges:
    """Sum of sparse matrices given as triplets (duplicates are summed by `to_sparse`)."""
    if not parts:
        raise ValueError("nothing to combine")
    n = parts[0].n
    if any(p.n != n for p in parts):
        raise ValueError("edge sets disagree on the number of nodes")
    return Edges(
        torch.cat([p.rows for p in parts]),
        torch.cat([p.cols for p in parts]),
        torch.cat([p.values for p in parts]),
        n,
    )


def edge_spmm(edges: Edges, x: Tensor) -> Tensor:
    """A @ x for A given as triplets: [n, d], differentiable in A's values and in x.

    `torch.sparse.mm`'s gradient for a sparse matrix's values goes through a dense n x n matrix
    (15 GB at 63k items); here it is <grad_out[row], x[col]> per edge, in blocks of EDGE_CHUNK.
    """
    if x.shape[0] != edges.n:
        raise ValueError(f"x has {x.shape[0]} rows, the graph {edges.n} nodes")
    out: Tensor = _EdgeSpmm.apply(  # type: ignore[no-untyped-call]
        edges.values, x, edges.rows, edges.cols, edges.n
    )
    return out


class _EdgeSpmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, values: Tensor, x: Tensor, rows: Tensor, cols: Tensor, n: int) -> Tensor:
        ctx.save_for_backward(values, x, rows, cols)
        ctx.n = n
        index = torch.stack([rows, cols])
        matrix = torch.sparse_coo_tensor(index, values.detach(), (n, n), check_invariants=False)
        out: Tensor = torch.sparse.mm(matrix, x.detach())
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        values, x, rows, cols = ctx.saved_tensors
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:
            grad_values = torch.empty_like(values)
            for start in range(0, len(values), EDGE_CHUNK):
                r, c = rows[start : start + EDGE_CHUNK], cols[start : start + EDGE_CHUNK]
                grad_values[start : start + EDGE_CHUNK] = (grad[r] * x[c]).sum(1)
        if ctx.needs_input_grad[1]:
            index = torch.stack([cols, rows])  # A^T
            transpose = torch.sparse_coo_tensor(
                index, values.detach(), (ctx.n, ctx.n), check_invariants=False
            )
            grad_x = torch.sparse.mm(transpose, grad)
        return grad_values, grad_x, None, None, None
