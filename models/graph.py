"""Graph building as pure functions: index arrays in, sparse torch tensors out."""

from __future__ import annotations

import numpy as np
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
