"""Normalised adjacency, checked by hand."""

import numpy as np
import torch

from models.graph import bipartite_adjacency


def test_bipartite_adjacency_matches_hand_computation() -> None:
    # user 0 -> items 0, 1; user 1 -> item 1 (a duplicate pair counts once)
    users = np.array([0, 0, 1, 1])
    items = np.array([0, 1, 1, 1])
    adj = bipartite_adjacency(users, items, n_users=2, n_items=2).to_dense()
    # degrees: u0 = 2, u1 = 1, i0 = 1, i1 = 2; nodes [u0, u1, i0, i1]
    expected = torch.zeros(4, 4)
    expected[0, 2] = expected[2, 0] = 1 / np.sqrt(2 * 1)
    expected[0, 3] = expected[3, 0] = 1 / np.sqrt(2 * 2)
    expected[1, 3] = expected[3, 1] = 1 / np.sqrt(1 * 2)
    assert torch.allclose(adj, expected)


def test_self_loops_and_isolated_nodes() -> None:
    adj = bipartite_adjacency(np.array([0]), np.array([0]), 2, 2, self_loops=True).to_dense()
    # u0 and i0 have degree 2 (edge + loop); u1 and i1 only their loop
    assert torch.isclose(adj[0, 2], torch.tensor(0.5))
    assert torch.isclose(adj[1, 1], torch.tensor(1.0))
    assert torch.isclose(adj[0, 0], torch.tensor(0.5))
    no_loops = bipartite_adjacency(np.array([0]), np.array([0]), 2, 2).to_dense()
    assert no_loops[1].abs().sum() == 0  # an isolated user stays all zero, no NaN


def test_spmm_matches_torch_sparse_in_value_and_gradient() -> None:
    from models.graph import spmm

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 7, 30), rng.integers(0, 5, 30)
    adj = bipartite_adjacency(users, items, 7, 5)
    x = torch.randn(12, 4, requires_grad=True)
    weights = torch.randn(12, 4)
    (spmm(adj, spmm(adj, x)) * weights).sum().backward()
    ref_in = x.detach().clone().requires_grad_()
    (torch.sparse.mm(adj, torch.sparse.mm(adj, ref_in)) * weights).sum().backward()
    assert torch.allclose(spmm(adj, x), torch.sparse.mm(adj, x), atol=1e-6)
    assert torch.allclose(x.grad, ref_in.grad, atol=1e-6)


def test_spmm_of_a_non_symmetric_matrix_back_propagates_through_its_transpose() -> None:
    from models.graph import spmm

    torch.manual_seed(0)
    dense = (torch.rand(6, 6) < 0.4).float() * torch.rand(6, 6)  # DiffMM's dropped-out G_m
    adj = dense.to_sparse()
    x = torch.randn(6, 3, requires_grad=True)
    weights = torch.randn(6, 3)
    (spmm(adj, x) * weights).sum().backward()
    assert torch.allclose(spmm(adj, x), dense @ x, atol=1e-6)
    assert torch.allclose(x.grad, dense.T @ weights, atol=1e-6)
