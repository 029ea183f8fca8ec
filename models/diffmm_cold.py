"""DiffMM's own cold start, a diagnostic (issue 3 item 4; MODELS.md 2, "Why DiffMM collapses").

The views of items in DiffMM's space that training/evaluation/diagnostics.py compares: what the
original code gives an item with no interaction, and the same views for the training items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from models.graph import spmm

if TYPE_CHECKING:
    from models.diffmm import DiffMM


@dataclass
class ItemViews:
    """Three views of items in DiffMM's space, each [n, d]: `modal` = sum_m softmax(w)_m
    norm f_m(x), the direct modal projection; `diffusion` = what the generated graphs G_m add;
    `embedding` = the item vector the recommender scores (the seed's cosine diagnostic compares
    `modal` with `diffusion`)."""

    modal: Tensor
    diffusion: Tensor
    embedding: Tensor


def check_modal_inputs(features: dict[str, Tensor], modal_dims: dict[str, int]) -> None:
    """Every modality of the model present as [n, d_m], all with the same n."""
    missing = sorted(set(modal_dims) - set(features))
    if missing:
        raise ValueError(f"missing modalities {missing}")
    sizes = {int(x.shape[0]) for x in features.values()}
    if len(sizes) != 1:
        raise ValueError(f"modalities disagree on the number of items: {sorted(sizes)}")
    for m, d in modal_dims.items():
        if features[m].ndim != 2 or features[m].shape[1] != d:
            got = list(features[m].shape)
            raise ValueError(f"modality {m!r} expects shape [n, {d}], got {got}")


@torch.no_grad()
def cold_item_views(
    model: DiffMM, features: dict[str, Tensor], id_embeddings: Tensor | None = None, seed: int = 0
) -> ItemViews:
    """DiffMM's forward pass for zero-degree items, built from the trained pieces
    (MODELS.md 2, "Why DiffMM collapses"); the training graphs are left untouched.

    In N(B + I) a zero-degree node keeps only its self-loop, of weight 1 (a warm item's is
    1 / (d + 1)). The denoisers output one column per training item, so no user is ever
    generated towards a new item and G_m holds its self-loop only. Per modality, then,
    z_m = norm f_m(x) + E_i + modal_graph_weight E_i; fused = sum_m softmax(w)_m z_m;
    each of the L layers keeps it as is (self-loop), so the output is
    (L + 1) fused + ris_lambda norm(fused). E_i is the row the original's table would hold
    for the item: never trained, so its Xavier initialisation over an
    [n_items + n, d] table (seeded), unless `id_embeddings` [n, d] are given.
    """
    check_modal_inputs(features, model.modal_dims)
    weight = model.item_table.weight  # [I, d]
    n = int(next(iter(features.values())).shape[0])
    if id_embeddings is None:
        bound = math.sqrt(6.0 / (model.n_items + n + model.cfg.dim))
        generator = torch.Generator().manual_seed(seed)
        id_embeddings = (torch.rand(n, model.cfg.dim, generator=generator) * 2 - 1) * bound
    ids = id_embeddings.to(device=weight.device, dtype=weight.dtype)  # [n, d]
    weights = torch.softmax(model.modal_logits, 0)
    modal = torch.zeros_like(ids)
    for j, m in enumerate(model.names):
        x = features[m].to(device=weight.device, dtype=weight.dtype)
        modal = modal + weights[j] * F.normalize(model.transform_features(m, x), dim=1)
    diffusion = model.cfg.diffmm.modal_graph_weight * ids  # G_m's self-loop, every modality
    fused = modal + ids + diffusion  # [n, d]
    layers = model.cfg.n_layers + 1
    out = layers * fused + model.cfg.diffmm.ris_lambda * F.normalize(fused, dim=1)  # [n, d]
    return ItemViews(modal=modal, diffusion=diffusion, embedding=out)


@torch.no_grad()
def warm_item_views(model: DiffMM) -> ItemViews:
    """The same three views for the training items, through the trained graphs: [I, d] each.

    `diffusion` is sum_m softmax(w)_m modal_graph_weight (G_m [E_u; E_i])_i, the part of
    the item's vector that the generated graphs contribute.
    """
    was_training = model.training
    model.eval()
    try:
        users, items = model.propagate()
        ego = torch.cat([model.user_table.weight, model.item_table.weight])  # [U + I, d]
        weights = torch.softmax(model.modal_logits, 0)
        modal = torch.zeros_like(items)
        diffusion = torch.zeros_like(items)
        graphs = model.modal_graphs()
        for j, m in enumerate(model.names):
            modal = modal + weights[j] * F.normalize(model.modal_features(m), dim=1)
            side = spmm(graphs[j], ego)[model.n_users :]  # [I, d]
            diffusion = diffusion + weights[j] * model.cfg.diffmm.modal_graph_weight * side
    finally:
        model.train(was_training)
    return ItemViews(modal=modal, diffusion=diffusion, embedding=items)
