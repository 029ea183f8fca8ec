"""Small run configurations for the tests that really train: seconds on one thread."""

from __future__ import annotations

from typing import Any

from training.config import RunConfig, apply_overrides

TINY: dict[str, Any] = {
    "model.dim": 32,
    "model.n_layers": 2,
    "model.projector.hidden": 64,
    "model.projector.dropout": 0.1,
    "train.epochs": 15,
    "train.batch_size": 256,
    "train.lr": 5e-3,
    "train.projector_epochs": 40,
    "train.projector_batch_size": 64,
    # Off in tests of other features, which compare bundles and rankings with the projector's own
    # rows; tests/unit/test_simulated_edges.py turns it on (it is on by default in coldrec train).
    "train.simulated_edges": False,
}


# Smaller still, for tests that train several graph models on ~100 items: d 16, kNN graphs of 5.
SMALL_GRAPH_MODELS: dict[str, Any] = {
    "model__dim": 16,
    "model__projector__hidden": 32,
    "model__lattice__knn_k": 5,
    "model__lattice__feat_embed_dim": 8,
    "model__micro__knn_k": 5,
    "model__micro__feat_embed_dim": 8,
}


def tiny_config(**overrides: Any) -> RunConfig:
    """`TINY` with `overrides`, written with `__` for dots: tiny_config(model__dim=16)."""
    cfg = RunConfig()
    apply_overrides(cfg, {**TINY, **{k.replace("__", "."): v for k, v in overrides.items()}})
    return cfg
