"""DiffMM's regeneration in the denoiser's hidden space (issue 16): the same reverse chain as T
passes of the denoiser over the item columns, and the same generated graph."""

from __future__ import annotations

import torch
from test_model_contract import MODAL_DIMS, N_ITEMS, N_USERS, tiny_config, tiny_graphs

from models.config import DiffMMConfig
from models.diffmm import DiffMM
from models.diffusion import Denoiser, DiffusionSchedule, HiddenChain, UserRows


def reference_denoise(sched: DiffusionSchedule, model: Denoiser, x0: torch.Tensor) -> torch.Tensor:
    """The chain as written: x_{t-1} = coef_x0[t] model(x_t, t) + coef_xt[t] x_t, x_T = x0."""
    x = x0
    for step in reversed(range(sched.steps)):
        t = torch.full((len(x),), step, dtype=torch.int64)
        x = float(sched.coef_x0[step]) * model(x, t, dropout=False) + float(sched.coef_xt[step]) * x
    return x


def test_hidden_chain_is_the_reverse_chain() -> None:
    torch.manual_seed(0)
    model = Denoiser(n_items=50, hidden=24, time_dim=10, dropout=0.5)
    # coefficients far from the paper's (coef_xt ~ 0.99) so every term of the chain counts
    sched = DiffusionSchedule(DiffMMConfig(noise_scale=1.0, noise_min=0.05, noise_max=0.6))
    x0 = (torch.rand(9, 50) < 0.2).float()
    with torch.no_grad():
        ref = reference_denoise(sched, model, x0)
        ours = sched.denoise(model, x0)
        reused = sched.denoise(model, x0[:4], HiddenChain(model))
    assert float((ref - x0).abs().max()) > 0.1  # the denoiser moved the rows
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(reused, ref[:4], rtol=1e-5, atol=1e-5)


def test_regenerate_keeps_the_reference_chains_top_items() -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.diffmm.rebuild_k = 3
    cfg.diffmm.denoise_batch = 7
    model = DiffMM(cfg, N_USERS, N_ITEMS, MODAL_DIMS)
    graphs = tiny_graphs()
    model.prepare(graphs)
    model.begin_epoch(1)
    rows = UserRows(graphs.users, graphs.items, N_USERS, N_ITEMS)
    x0 = rows.dense(torch.arange(N_USERS))
    for m in model.names:
        with torch.no_grad():
            scores = reference_denoise(model.schedule, model._denoiser(m), x0)
        top = scores.topk(3, dim=1).indices.sort(1).values
        assert torch.equal(getattr(model, f"generated_{m}").sort(1).values, top)
