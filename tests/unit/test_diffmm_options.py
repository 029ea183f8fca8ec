"""DiffMM's speed options (issue 16): the contrastive term per distinct node, its anchor cap, and
bfloat16 matmuls (denoisers, MSI, contrastive logits) beside the fp32 reference."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_model_contract import MODAL_DIMS, N_ITEMS, N_USERS, tiny_config, tiny_graphs

from models.base import Batch
from models.config import DiffMMConfig
from models.diffmm import DiffMM, contrast
from models.diffusion import Denoiser, DiffusionSchedule, matmul


@pytest.fixture
def native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """bfloat16 taken as native whatever the CPU, so the bf16 kernels run (slowly on AVX2)."""
    monkeypatch.setattr("models.diffusion.bf16_is_native", lambda device: True)


def reference_contrast(a, b, nodes, tau: float, all_nodes: bool) -> torch.Tensor:
    """The formula as written, one anchor per entry of `nodes` (repeats included)."""
    anchors = F.normalize(a[nodes], dim=1)
    positives = F.normalize(b[nodes], dim=1)
    pool = b if all_nodes else b[torch.unique(nodes)]
    logits = anchors @ F.normalize(pool, dim=1).T / tau
    return (torch.logsumexp(logits, dim=1) - (anchors * positives).sum(1) / tau).mean()


@pytest.mark.parametrize("all_nodes", [False, True])
def test_contrast_per_distinct_node_is_the_mean_over_the_batch(
    all_nodes: bool, native_bf16: None
) -> None:
    torch.manual_seed(0)
    a = torch.randn(50, 8, requires_grad=True)
    b = torch.randn(50, 8, requires_grad=True)
    nodes = torch.randint(0, 30, (64,))  # repeats, as a batch's popular users
    ours = contrast(a, b, nodes, 0.5, all_nodes)
    ref = reference_contrast(a, b, nodes, 0.5, all_nodes)
    torch.testing.assert_close(ours, ref)
    grads, ref_grads = torch.autograd.grad(ours, (a, b)), torch.autograd.grad(ref, (a, b))
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)
    # bfloat16 logits: the same loss within bf16's precision
    torch.testing.assert_close(contrast(a, b, nodes, 0.5, all_nodes, True), ref, rtol=2e-3, atol=0)


def test_contrast_anchor_cap() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(50, 8), torch.randn(50, 8)
    nodes = torch.randint(0, 40, (64,))
    full = contrast(a, b, nodes, 0.5, False)
    assert torch.equal(contrast(a, b, nodes, 0.5, False, max_nodes=1000), full)  # cap not reached
    # 5 anchors drawn among the distinct nodes: the term over those 5 alone, weighted by counts
    torch.manual_seed(1)
    capped = contrast(a, b, nodes, 0.5, False, max_nodes=5)
    torch.manual_seed(1)
    distinct, counts = torch.unique(nodes, return_counts=True)
    keep = torch.randperm(len(distinct))[:5]
    subset = torch.repeat_interleave(distinct[keep], counts[keep])
    torch.testing.assert_close(capped, reference_contrast(a, b, subset, 0.5, False))


def test_bf16_denoiser_and_matmul_track_fp32(native_bf16: None) -> None:
    torch.manual_seed(0)
    fp32 = Denoiser(n_items=40, hidden=32, time_dim=10, dropout=0.5)
    bf16 = Denoiser(n_items=40, hidden=32, time_dim=10, dropout=0.5, bf16=True)
    bf16.load_state_dict(fp32.state_dict())
    x = (torch.rand(6, 40) < 0.2).float()
    t = torch.tensor([0, 1, 2, 3, 4, 0])
    with torch.no_grad():
        ref, low = fp32(x, t, dropout=False), bf16(x, t, dropout=False)
    assert low.dtype == torch.float32 and low.shape == ref.shape
    assert float((low - ref).norm() / ref.norm()) < 2e-2
    a, b = torch.randn(7, 64), torch.randn(64, 5)
    torch.testing.assert_close(matmul(a, b, True), a @ b, rtol=3e-2, atol=0.3)
    assert torch.equal(matmul(a, b, False), a @ b)
    # a regeneration in bf16 runs its reverse chain on those layers
    sched = DiffusionSchedule(DiffMMConfig())
    with bf16.autocast("cpu"):
        out = sched.denoise(bf16, x)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_bf16_diffmm_trains_and_checks_its_setting(native_bf16: None) -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.diffmm.precision = "bf16"
    cfg.diffmm.ssl_max_nodes = 8
    model = DiffMM(cfg, N_USERS, N_ITEMS, MODAL_DIMS)
    graphs = tiny_graphs()
    model.prepare(graphs)
    logs = model.begin_epoch(1)  # denoisers trained and graphs regenerated in bf16
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert all(bool((getattr(model, f"generated_{m}") >= 0).all()) for m in model.names)
    batch = Batch(graphs.users[:32], graphs.items[:32], torch.randint(0, N_ITEMS, (32,)))
    terms = model.loss(batch)
    sum(terms.values()).backward()
    assert all(torch.isfinite(v) for v in terms.values())
    assert model.user_table.weight.grad is not None
    cfg.diffmm.precision = "fp16"
    with pytest.raises(ValueError, match="precision"):
        DiffMM(cfg, N_USERS, N_ITEMS, MODAL_DIMS)


def fit_a_little(precision: str) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One denoiser epoch, a regeneration and one loss, from seed 0: (terms, state_dict)."""
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.diffmm.precision = precision
    cfg.diffmm.ssl_max_nodes = 8
    model = DiffMM(cfg, N_USERS, N_ITEMS, MODAL_DIMS)
    graphs = tiny_graphs()
    model.prepare(graphs)
    model.begin_epoch(1)
    batch = Batch(graphs.users[:32], graphs.items[:32], torch.randint(0, N_ITEMS, (32,)))
    terms = {k: float(v.detach()) for k, v in model.loss(batch).items()}
    return terms, model.state_dict()


def test_bf16_where_not_native_is_exactly_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a device without native bfloat16 (an AVX2-only CPU) "bf16" runs the fp32 path, bit for
    bit; where it is native, the same run differs (the bf16 kernels did run)."""
    monkeypatch.setattr("models.diffusion.bf16_is_native", lambda device: False)
    ref_terms, ref_state = fit_a_little("fp32")
    terms, state = fit_a_little("bf16")
    assert terms == ref_terms
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)
    monkeypatch.setattr("models.diffusion.bf16_is_native", lambda device: True)
    native_terms, native_state = fit_a_little("bf16")
    assert native_terms != ref_terms
    assert not all(torch.equal(native_state[k], ref_state[k]) for k in ref_state)
