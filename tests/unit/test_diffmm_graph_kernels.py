"""graph.spmm's two CPU kernels (issue 16, DiffMM's propagations): MKL's CSR and scipy's CSR
(AMD CPUs, one thread) give adj @ x and adj^T @ grad, for a symmetric and a non-symmetric adj."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import models.graph as graph
from models.graph import bipartite_adjacency, spmm


@pytest.mark.parametrize("scipy_kernel", [False, True])
def test_both_kernels_give_the_product_and_its_transpose(
    scipy_kernel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph, "uses_scipy", lambda: scipy_kernel)
    rng = np.random.default_rng(0)
    sym = bipartite_adjacency(rng.integers(0, 7, 30), rng.integers(0, 5, 30), 7, 5, True)
    dense = (torch.rand(12, 12) < 0.3).float() * torch.rand(12, 12)  # a dropped-out G_m
    for adj, ref in ((sym, sym.to_dense()), (dense.to_sparse(), dense)):
        x = torch.randn(12, 4, requires_grad=True)
        weights = torch.randn(12, 4)
        out = spmm(adj, x)
        (out * weights).sum().backward()
        assert out.dtype == torch.float32 and out.shape == (12, 4)
        torch.testing.assert_close(out, ref @ x.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(x.grad, ref.T @ weights, rtol=1e-5, atol=1e-6)
    kernel_cache = "_coldrec_scipy" if scipy_kernel else "_coldrec_csr"
    assert hasattr(sym, kernel_cache)  # the kernel asked for is the one that ran


def test_scipy_kernel_only_with_one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "_amd_cpu", lambda: True)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert graph.uses_scipy()
        torch.set_num_threads(2)
        assert not graph.uses_scipy()
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(graph, "_amd_cpu", lambda: False)
    assert not graph.uses_scipy()
