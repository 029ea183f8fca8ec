"""DiffMM's diffusion side: row slices, the schedule, batched denoising and graph regeneration."""

from __future__ import annotations

import numpy as np
import torch
from test_model_contract import MODAL_DIMS, N_ITEMS, N_USERS, tiny_config, tiny_graphs

from models.config import DiffMMConfig, ModelConfig
from models.diffmm import DiffMM, edge_dropout
from models.diffusion import Denoiser, DiffusionSchedule, UserRows, timestep_embedding
from models.graph import bipartite_adjacency


def test_user_rows_dense_matches_reference() -> None:
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.integers(0, 9, 60))
    items = torch.from_numpy(rng.integers(0, 7, 60))
    reference = torch.zeros(9, 7)
    reference[users, items] = 1.0  # duplicates count once
    rows = UserRows(users, items, 9, 7)
    pick = torch.tensor([3, 0, 8, 3, 5])
    assert torch.equal(rows.dense(pick), reference[pick])
    assert torch.equal(rows.dense(torch.arange(9)), reference)


def test_schedule_matches_paper_formulas() -> None:
    cfg = DiffMMConfig()
    sched = DiffusionSchedule(cfg)
    variance = np.linspace(0.1 * 1e-4, 0.1 * 0.02, 5)
    np.testing.assert_allclose(sched.sqrt_cum.numpy() ** 2, 1 - variance, rtol=1e-6)
    np.testing.assert_allclose(sched.snr.numpy(), (1 - variance) / variance, rtol=1e-5)
    # Posterior mean of x_{t-1} given x_t = x0 = 1 is 1 when x0_hat = 1 (coefficients sum to
    # sqrt(abar_{t-1}) (1 + ...) ~ 1 for tiny variances).
    assert torch.all((sched.coef_x0 + sched.coef_xt - 1).abs() < 1e-2)


def test_denoise_is_row_independent() -> None:
    torch.manual_seed(0)
    model = Denoiser(n_items=12, hidden=16, time_dim=10, dropout=0.5)
    sched = DiffusionSchedule(DiffMMConfig())
    x0 = (torch.rand(6, 12) < 0.3).float()
    batched = sched.denoise(model, x0)
    single = torch.cat([sched.denoise(model, x0[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(batched, single)


def test_regenerate_keeps_each_users_top_items() -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.diffmm.rebuild_k = 2
    cfg.diffmm.denoise_batch = 7  # several batches, one ragged
    model = DiffMM(cfg, N_USERS, N_ITEMS, MODAL_DIMS)
    graphs = tiny_graphs()
    model.prepare(graphs)
    model.begin_epoch(1)
    rows = UserRows(graphs.users, graphs.items, N_USERS, N_ITEMS)
    for m in model.names:
        generated = getattr(model, f"generated_{m}")
        for u in (0, 6, 7, 39):
            scores = model.schedule.denoise(model.denoisers[m], rows.dense(torch.tensor([u])))
            assert set(generated[u].tolist()) == set(scores[0].topk(2).indices.tolist())
    graph = model.modal_graphs()[0]
    assert graph.shape == (N_USERS + N_ITEMS, N_USERS + N_ITEMS)


def test_rolling_regeneration_renews_a_window_of_users_in_turn() -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    cfg.diffmm.regenerate_users_per_epoch = 16  # 40 users: windows 0-15, 16-31, 32-7
    cfg.diffmm.keep_rate = 1.0
    model = DiffMM(cfg, N_USERS, N_ITEMS, MODAL_DIMS)
    model.prepare(tiny_graphs())
    name = f"generated_{model.names[0]}"
    model.regenerate()
    generated = getattr(model, name)
    assert bool((generated[:16] >= 0).all()) and bool((generated[16:] < 0).all())
    # every self-loop, and both directions of the window's 16 generated edges
    assert model.modal_graphs()[0]._nnz() == N_USERS + N_ITEMS + 2 * 16
    model.regenerate()
    assert bool((getattr(model, name)[:32] >= 0).all()) and bool((generated[32:] < 0).all())
    model.regenerate()
    assert bool((getattr(model, name) >= 0).all())
    assert int(model.get_buffer("regen_cursor")) == 8


def test_edge_dropout_is_seeded_and_rescaled() -> None:
    users = np.arange(50) % 10
    items = np.arange(50) % 7
    graph = bipartite_adjacency(users, items, 10, 7, self_loops=True)
    assert edge_dropout(graph, 1.0, 0) is graph
    a, b = edge_dropout(graph, 0.5, 3), edge_dropout(graph, 0.5, 3)
    assert torch.equal(a.indices(), b.indices()) and torch.equal(a.values(), b.values())
    assert 0 < a._nnz() < graph._nnz()
    kept = {tuple(ix): v for ix, v in zip(a.indices().T.tolist(), a.values().tolist(), strict=True)}
    full = dict(zip(map(tuple, graph.indices().T.tolist()), graph.values().tolist(), strict=True))
    for ix, value in kept.items():
        assert abs(value - 2.0 * full[ix]) < 1e-6


def test_timestep_embedding_shapes() -> None:
    t = torch.tensor([0, 3, 4])
    assert timestep_embedding(t, 10).shape == (3, 10)
    odd = timestep_embedding(t, 7)
    assert odd.shape == (3, 7) and torch.all(odd[:, -1] == 0)


def test_without_noise_and_with_leaky_features() -> None:
    torch.manual_seed(0)
    cfg: ModelConfig = tiny_config()
    cfg.diffmm.noise_scale = 0.0
    cfg.diffmm.feat_transform = "leaky"
    cfg.diffmm.cl_method = 1
    model = DiffMM(cfg, N_USERS, N_ITEMS, MODAL_DIMS)
    model.prepare(tiny_graphs())
    logs = model.begin_epoch(1)
    assert all(np.isfinite(v) for v in logs.values())
    users, items = model.embeddings()
    assert torch.isfinite(users).all() and torch.isfinite(items).all()
