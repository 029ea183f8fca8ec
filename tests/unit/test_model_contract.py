"""One contract suite over every model in the registry, on a tiny structured dataset.

40 users x 30 items in 3 taste groups (user u and item i share a group when u % 3 == i % 3);
every user interacts with items of their group; each item's features carry its group plus
noise. Small dims so that every test runs in seconds.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch_devices import DEVICES

from models.base import Batch, ModelNotPrepared, RecModel, TrainGraphs, bpr_terms
from models.config import (
    DiffMMConfig,
    LatticeConfig,
    MicroConfig,
    ModelConfig,
    ProjectorConfig,
)
from models.graph import bipartite_adjacency
from models.registry import MODELS

N_USERS, N_ITEMS, GROUPS = 40, 30, 3
MODAL_DIMS = {"image": 24, "text": 16}


def tiny_config() -> ModelConfig:
    return ModelConfig(
        dim=16,
        n_layers=2,
        reg=1e-4,
        projector=ProjectorConfig(hidden=32, dropout=0.1),
        lattice=LatticeConfig(knn_k=4, feat_embed_dim=8, knn_chunk=7),
        micro=MicroConfig(knn_k=4, feat_embed_dim=8, knn_chunk=7, cl_max_items=24),
        diffmm=DiffMMConfig(denoiser_hidden=32, denoise_batch=16, keep_rate=0.5),
    )


def tiny_graphs(seed: int = 0, device: str = "cpu") -> TrainGraphs:
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(N_USERS):
        group_items = np.arange(u % GROUPS, N_ITEMS, GROUPS)
        chosen = rng.choice(group_items, size=5, replace=False)
        users += [u] * len(chosen)
        items += chosen.tolist()
    users_a, items_a = np.array(users), np.array(items)
    centroids = {m: rng.normal(size=(GROUPS, d)) for m, d in MODAL_DIMS.items()}
    features = {
        m: torch.from_numpy(
            (c[np.arange(N_ITEMS) % GROUPS] + 0.3 * rng.normal(size=(N_ITEMS, c.shape[1]))).astype(
                np.float32
            )
        )
        for m, c in centroids.items()
    }
    return TrainGraphs(
        n_users=N_USERS,
        n_items=N_ITEMS,
        users=torch.from_numpy(users_a).to(device),
        items=torch.from_numpy(items_a).to(device),
        adj=bipartite_adjacency(users_a, items_a, N_USERS, N_ITEMS).to(device),
        features={m: x.to(device) for m, x in features.items()},
    )


def batches(graphs: TrainGraphs, n: int, size: int, rng: np.random.Generator) -> list[Batch]:
    """BPR triples with negatives from the other taste groups."""
    out = []
    for _ in range(n):
        pick = torch.from_numpy(rng.integers(0, len(graphs.users), size)).to(graphs.users.device)
        users = graphs.users[pick]
        shift = torch.from_numpy(rng.integers(1, GROUPS, size)).to(users.device)
        neg = (users % GROUPS + shift) % GROUPS + GROUPS * torch.from_numpy(
            rng.integers(0, N_ITEMS // GROUPS, size)
        ).to(users.device)
        out.append(Batch(users, graphs.items[pick], neg))
    return out


def build(name: str, seed: int = 0, device: str = "cpu") -> RecModel:
    torch.manual_seed(seed)
    model = MODELS[name](tiny_config(), N_USERS, N_ITEMS, MODAL_DIMS).to(device)
    model.prepare(tiny_graphs(device=device))
    return model


def train(model: RecModel, epochs: int, steps: int, seed: int = 0) -> list[float]:
    """The trainer's protocol: begin_epoch, then Adam over recommender_parameters(); epoch means."""
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.recommender_parameters(), lr=1e-2)
    means = []
    for epoch in range(1, epochs + 1):
        model.train()
        model.begin_epoch(epoch)
        total = 0.0
        for batch in batches(model.graphs, steps, 64, rng):
            loss = torch.stack(list(model.loss(batch).values())).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        means.append(total / steps)
    return means


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_loss_falls(name: str, device: str) -> None:
    model = build(name, device=device)
    means = train(model, epochs=20, steps=10)
    assert means[-1] < 0.8 * means[0], means


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_embeddings_shapes_finite(name: str, device: str) -> None:
    model = build(name, device=device)
    train(model, epochs=2, steps=3)
    users, items = model.embeddings()
    assert users.shape == (N_USERS, 16) and items.shape == (N_ITEMS, 16)
    assert torch.isfinite(users).all() and torch.isfinite(items).all()
    assert not users.requires_grad and not items.requires_grad
    assert model.user_embeddings().shape == (N_USERS, 16)
    assert model.item_embeddings().shape == (N_ITEMS, 16)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_seeded_runs_repeat(name: str) -> None:
    runs = []
    for _ in range(2):
        model = build(name, seed=7)
        train(model, epochs=2, steps=4, seed=7)
        runs.append(model.embeddings())
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_loss_terms_named_and_finite(name: str) -> None:
    model = build(name)
    model.train()
    model.begin_epoch(1)
    terms = model.loss(batches(model.graphs, 1, 32, np.random.default_rng(0))[0])
    assert {"bpr", "reg"} <= set(terms)
    for key, value in terms.items():
        assert isinstance(key, str) and key
        assert value.ndim == 0 and torch.isfinite(value), key


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_first_batch_reaches_every_recommender_parameter(name: str, device: str) -> None:
    """No detached path: the epoch's first batch (where LATTICE/MICRO learn their graphs) sends
    a gradient to every parameter the main optimizer trains."""
    model = build(name, device=device)
    model.train()
    model.begin_epoch(1)
    batch = batches(model.graphs, 1, 64, np.random.default_rng(0))[0]
    torch.stack(list(model.loss(batch).values())).sum().backward()
    for param_name, param in model.named_parameters():
        if not any(param is p for p in model.recommender_parameters()):
            continue
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_loss_ranks_the_exported_embeddings(name: str) -> None:
    """The BPR term is computed on exactly the embeddings `embeddings()` exports."""
    model = build(name)
    train(model, epochs=1, steps=2)
    model.train()
    model.begin_epoch(2)
    batch = batches(model.graphs, 1, 48, np.random.default_rng(5))[0]
    with torch.no_grad():
        from_loss = model.loss(batch)["bpr"]
    users, items = model.embeddings()
    torch.testing.assert_close(from_loss, bpr_terms(users, items, batch, 0.0)["bpr"])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_prepare_rejects_wrong_sizes(name: str) -> None:
    model = MODELS[name](tiny_config(), N_USERS, N_ITEMS, MODAL_DIMS)
    graphs = tiny_graphs()
    with pytest.raises(ValueError):
        model.prepare(replace(graphs, n_items=N_ITEMS + 1))
    with pytest.raises(ValueError):
        model.prepare(replace(graphs, n_users=N_USERS - 1))
    if name != "lightgcn":  # LightGCN does not read features
        _rejects_wrong_features(model, graphs)
    with pytest.raises(ModelNotPrepared):  # a refused prepare leaves the model unprepared
        model.embeddings()


def _rejects_wrong_features(model: RecModel, graphs: TrainGraphs) -> None:
    wrong_dim = {"image": graphs.features["image"], "text": graphs.features["text"][:, :5]}
    with pytest.raises(ValueError):
        model.prepare(replace(graphs, features=wrong_dim))
    wrong_rows = {m: x[:-1] for m, x in graphs.features.items()}
    with pytest.raises(ValueError):
        model.prepare(replace(graphs, features=wrong_rows))
    with pytest.raises(ValueError):
        model.prepare(replace(graphs, features={"text": graphs.features["text"]}))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_state_dict_round_trip_restores_embeddings(name: str, device: str) -> None:
    """The trainer restores its best epoch with load_state_dict: embeddings must follow."""
    model = build(name, device=device)
    train(model, epochs=2, steps=3)
    saved = copy.deepcopy(model.state_dict())
    before = model.embeddings()
    train(model, epochs=2, steps=3, seed=1)
    model.load_state_dict(saved)
    after = model.embeddings()
    assert torch.allclose(before[0], after[0]) and torch.allclose(before[1], after[1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_main_optimizer_excludes_projector(name: str) -> None:
    model = build(name)
    main = {id(p) for p in model.recommender_parameters()}
    assert main
    assert model.projector is not None
    assert not main & {id(p) for p in model.projector.parameters()}
    denoisers = getattr(model, "denoisers", None)
    if denoisers is not None:
        assert not main & {id(p) for p in denoisers.parameters()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_any_number_of_modalities(name: str) -> None:
    graphs = tiny_graphs()
    for dims in ({"text": 16}, {"image": 24, "text": 16, "audio": 8}):
        feats = {m: torch.randn(N_ITEMS, d) for m, d in dims.items()}
        torch.manual_seed(0)
        model = MODELS[name](tiny_config(), N_USERS, N_ITEMS, dims)
        model.prepare(replace(graphs, features=feats))
        train(model, epochs=1, steps=2)
        users, items = model.embeddings()
        assert torch.isfinite(items).all() and items.shape == (N_ITEMS, 16)
