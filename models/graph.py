"""Graph building as pure functions: index arrays in, sparse torch tensors out."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor


def bipartite_adjacency(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, self_loops: bool = False
) -> Tensor:
    """D^-1/2 A D^-1/2 of the user-item graph A = [[0, R], [R^T, 0]] (+ I when `self_loops`).

    Nodes are users 0..U-1 then items U..U+I-1. Duplicate (user, item) pairs count once.
    Returns a coalesced sparse COO tensor [U + I, U + I], float32.
    """
    n = n_users + n_items
    pairs = np.unique(np.stack([users, items]).astype(np.int64), axis=1)
    rows = np.concatenate([pairs[0], pairs[1] + n_users])
    cols = np.concatenate([pairs[1] + n_users, pairs[0]])
    if self_loops:
        loop = np.arange(n, dtype=np.int64)
        rows, cols = np.concatenate([rows, loop]), np.concatenate([cols, loop])
    return sym_normalize(rows, cols, np.ones(len(rows), dtype=np.float32), n)


def sym_normalize(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n: int) -> Tensor:
    """D^-1/2 A D^-1/2 for a sparse n x n matrix given as COO triplets (row degrees)."""
    degree = np.bincount(rows, weights=values, minlength=n).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv_sqrt = np.where(degree > 0, degree**-0.5, 0.0)
    normed = (values * inv_sqrt[rows] * inv_sqrt[cols]).astype(np.float32)
    index = torch.from_numpy(np.stack([rows, cols]).astype(np.int64))
    return torch.sparse_coo_tensor(
        index, torch.from_numpy(normed), (n, n), check_invariants=False
    ).coalesce()


def spmm(adj: Tensor, x: Tensor) -> Tensor:
    """`adj @ x` for a constant sparse `adj` (no gradient into adj), differentiable in `x`.

    On the CPU this runs scipy's CSR kernel, about 3x faster than `torch.sparse.mm` on this
    machine (Beauty's adjacency at d = 384: 25 ms against 83 ms); the CSR copies of adj and its
    transpose are built once and kept on the tensor. Elsewhere, or when adj needs a gradient
    (a learned graph), it falls back to `torch.sparse.mm`.
    """
    if adj.requires_grad or x.device.type != "cpu" or x.dtype != torch.float32:
        out: Tensor = torch.sparse.mm(adj, x)
        return out
    result: Tensor = _ScipySpmm.apply(x, _csr_pair(adj))  # type: ignore[no-untyped-call]
    return result


def _csr_pair(adj: Tensor) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    cached = getattr(adj, "_coldrec_csr", None)
    if cached is None:
        coo = adj.coalesce()
        rows, cols = coo.indices().numpy()
        values = coo.values().detach().numpy().astype(np.float32)
        matrix = sp.csr_matrix((values, (rows, cols)), shape=tuple(coo.shape))
        cached = (matrix, matrix.T.tocsr())
        adj._coldrec_csr = cached  # type: ignore[attr-defined]
    return cached


class _ScipySpmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, pair: tuple[sp.csr_matrix, sp.csr_matrix]) -> Tensor:
        ctx.transpose = pair[1]
        return torch.from_numpy(pair[0] @ x.detach().contiguous().numpy())

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return torch.from_numpy(ctx.transpose @ grad.contiguous().numpy()), None
