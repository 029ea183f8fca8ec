"""LATTICE (Zhang et al., MM'21, "Mining Latent Structures for Multimedia Recommendation").

Items: a mixed item graph A = (1 - lambda) N(sum_m alpha_m kNN(cos W_m x^m))
+ lambda sum_m alpha_m N(kNN(cos x^m)), alpha = softmax(w); H = A^L E_id.
Output: user = LightGCN user; item = LightGCN item + L2norm(H) (MODELS.md 1.1).

Differences from the original code, on purpose:
- raw features are frozen (the original trains them), so a new item's features mean the same
  thing at serving time as in training;
- the kNN graphs are sparse and built in row chunks (`models.knn`), never a dense I x I matrix;
- the CF backbone propagates over the trainer's D^-1/2 B D^-1/2 (the original uses D^-1 (B + I))
  for `cfg.n_layers` layers, the mean of layers as output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ModelConfig
from models.knn import Edges, combine, sym_normalize_edges
from models.modal_graphs import (
    KnnGraphRecModel,
    lightgcn_mean,
    propagate_items,
)


class Lattice(KnnGraphRecModel):
    """LATTICE over any number of modalities; the learned item graph is rebuilt every epoch."""

    name = "lattice"

    def __init__(
        self, cfg: ModelConfig, n_users: int, n_items: int, modal_dims: dict[str, int]
    ) -> None:
        super().__init__(cfg, n_users, n_items, modal_dims, cfg.lattice)
        # w of alpha = softmax(w); the original starts from 0.5 per modality.
        self.modal_logits = nn.Parameter(torch.full((len(modal_dims),), 0.5))

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        """Re-select the learned graph's neighbours; the epoch's first batch learns its weights."""
        super().begin_epoch(epoch)
        alpha = torch.softmax(self.modal_logits.detach(), 0)
        return {f"alpha_{m}": float(a) for m, a in zip(self.item_graphs.names, alpha, strict=True)}

    def item_graph(self) -> Edges:
        """The mixed item graph A as triplets [I, I], weights differentiable in W_m and w."""
        lam = self.cfg.lattice.skip_lambda
        alpha = torch.softmax(self.modal_logits, 0)  # [M]
        names = self.item_graphs.names
        learned = combine(
            [
                self.item_graphs.learned(m, normalize=False).scaled(alpha[j])
                for j, m in enumerate(names)
            ]
        )
        frozen = combine([self.item_graphs.frozen[m].scaled(alpha[j]) for j, m in enumerate(names)])
        return combine([sym_normalize_edges(learned).scaled(1.0 - lam), frozen.scaled(lam)])

    def propagate(self) -> tuple[Tensor, Tensor]:
        adj = self.graphs.adj  # raises ModelNotPrepared before prepare
        (graph,) = self._cache.get(lambda: [self.item_graph()], self.training)
        ego = torch.cat([self.user_table.weight, self.item_table.weight])  # [U + I, d]
        final = lightgcn_mean(adj, ego, self.cfg.n_layers)
        h = propagate_items(graph, self.item_table.weight, self.cfg.lattice.item_layers)  # [I, d]
        items = final[self.n_users :] + F.normalize(h, dim=1)
        return final[: self.n_users], items
