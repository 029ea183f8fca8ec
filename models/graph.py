"""Graph building as pure functions: index arrays in, sparse torch tensors out."""

from __future__ import annotations

import functools
import warnings
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

    On the CPU this runs a CSR kernel on CSR copies of adj and its transpose, built once and
    kept on the tensor: MKL's (torch's sparse CSR layout), or scipy's on an AMD CPU with one
    torch thread (`uses_scipy`). Issue 16, one thread, d = 384, CPU time: on a Xeon, Beauty's
    adjacency (220k entries) 35 ms with MKL against 54-61 ms with scipy and 57 ms for
    `torch.sparse.mm` on COO, the Electronics-size one (3.4M entries) 0.58 s against 1.55 s and
    1.43 s; on an AMD EPYC (MKL takes its generic path there), Beauty's 252k entries 147 ms with
    MKL against 110 ms with scipy, and at d = 768 233 ms against 135 ms. The kernels sum in
    different orders (differences of ~1e-7). Elsewhere, or when adj needs a gradient (a
    learned graph), it falls back to `torch.sparse.mm` on adj as given.
    """
    if adj.requires_grad or x.device.type != "cpu" or x.dtype != torch.float32:
        out: Tensor = torch.sparse.mm(adj, x)
        return out
    pair = _scipy_pair(adj) if uses_scipy() else _csr_pair(adj)
    result: Tensor = _CsrSpmm.apply(x, pair)  # type: ignore[no-untyped-call]
    return result


def uses_scipy() -> bool:
    """Whether `spmm` runs scipy's CSR kernel: on an AMD CPU (MKL's sparse kernels run their
    generic code there) with one torch thread (scipy's kernel has one; MKL's uses them all)."""
    return _amd_cpu() and torch.get_num_threads() == 1


@functools.cache
def _amd_cpu() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return any(line.startswith("vendor_id") and "AuthenticAMD" in line for line in info)
    except OSError:
        return False


def _csr_pair(adj: Tensor) -> tuple[Tensor, Tensor]:
    """(adj, adj^T) in torch's sparse CSR layout with int32 indices (MKL's LP64 interface takes
    them as they are; int64 ones are converted on every call), cached on `adj`."""
    cached = getattr(adj, "_coldrec_csr", None)
    if cached is None:
        coo = adj.coalesce().detach()
        transpose = torch.sparse_coo_tensor(
            coo.indices().flip(0), coo.values(), tuple(coo.shape), check_invariants=False
        ).coalesce()
        cached = (_to_csr(coo), _to_csr(transpose))
        adj._coldrec_csr = cached  # type: ignore[attr-defined]
    return cached


def _scipy_pair(adj: Tensor) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(adj, adj^T) as scipy CSR matrices, cached on `adj`."""
    cached = getattr(adj, "_coldrec_scipy", None)
    if cached is None:
        coo = adj.coalesce().detach()
        rows, cols = coo.indices().numpy()
        matrix = sp.csr_matrix((coo.values().numpy(), (rows, cols)), shape=tuple(coo.shape))
        cached = (matrix, matrix.T.tocsr())
        adj._coldrec_scipy = cached  # type: ignore[attr-defined]
    return cached


def _to_csr(coo: Tensor) -> Tensor:
    with warnings.catch_warnings():  # torch flags its sparse CSR layout as beta
        warnings.simplefilter("ignore", UserWarning)
        csr = coo.to_sparse_csr()
        if coo._nnz() >= 2**31 or coo.shape[0] >= 2**31:
            return csr
        return torch.sparse_csr_tensor(
            csr.crow_indices().int(), csr.col_indices().int(), csr.values(), tuple(csr.shape)
        )


def _csr_mm(csr: Tensor | sp.csr_matrix, x: Tensor) -> Tensor:
    """csr @ x into a fresh output: through MKL (`torch.sparse.mm` would zero it first and
    copy the product once more: two extra passes over [n, d]) or scipy."""
    if isinstance(csr, sp.csr_matrix):
        return torch.from_numpy(csr @ x.contiguous().numpy())
    out = torch.empty(csr.shape[0], x.shape[1], dtype=x.dtype)
    return torch.addmm(out, csr, x.contiguous(), beta=0, out=out)


class _CsrSpmm(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, pair: tuple[Any, Any]) -> Tensor:
        ctx.transpose = pair[1]
        return _csr_mm(pair[0], x.detach())

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return _csr_mm(ctx.transpose, grad), None
