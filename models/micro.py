"""MICRO (Zhang et al., TKDE'22, "Latent Structure Mining with Contrastive Modality Fusion").

Per modality m: A^m = (1 - lambda) N(kNN(cos W_m x^m)) + lambda N(kNN(cos x^m)) and
H^m = (A^m)^L E_id. Attention fusion H = sum_m beta^m H^m with beta = softmax_m q(H^m),
q = Linear -> tanh -> Linear. Output: item = LightGCN item + L2norm(H), user = LightGCN user.
Loss: BPR + L2 + cl_weight * sum_m InfoNCE(H^m, H) (GRACE-style, cosine, tau) (MODELS.md 1.2).

Differences from the original code, on purpose:
- frozen raw features, sparse chunked kNN graphs, the trainer's symmetric adjacency (as LATTICE);
- the contrastive loss is sampled, not over all items: the anchors and the negatives are the
  batch's distinct items (positives and negatives, at most `cl_max_items`). The original
  contrasts all I items against all I items on every batch, O(I^2 d) (3.4e8 similarities per
  modality per batch on Sports, 4e9 on Electronics): out of reach on a CPU and dominated by
  items the batch never touches. In-batch items are where BPR's gradient is; every trained item
  becomes an anchor over an epoch, and ~2k negatives per anchor is what GRACE-style losses use
  in practice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.base import Batch, bpr_terms
from models.config import ModelConfig
from models.knn import Edges, combine
from models.modal_graphs import (
    KnnGraphRecModel,
    lightgcn_mean,
    propagate_items,
)


class Micro(KnnGraphRecModel):
    """MICRO over any number of modalities, with a sampled contrastive fusion loss."""

    name = "micro"

    def __init__(
        self, cfg: ModelConfig, n_users: int, n_items: int, modal_dims: dict[str, int]
    ) -> None:
        super().__init__(cfg, n_users, n_items, modal_dims, cfg.micro)
        self.query = nn.Sequential(
            nn.Linear(cfg.dim, cfg.dim), nn.Tanh(), nn.Linear(cfg.dim, 1, bias=False)
        )

    def modal_graphs(self) -> list[Edges]:
        """A^m per modality, in sorted modality order: triplets [I, I] each."""
        lam = self.cfg.micro.skip_lambda
        out = []
        for m in self.item_graphs.names:
            learned = self.item_graphs.learned(m, normalize=True).scaled(1.0 - lam)
            out.append(combine([learned, self.item_graphs.frozen[m].scaled(lam)]))
        return out

    def _backbone_and_views(self) -> tuple[Tensor, Tensor, list[Tensor]]:
        """(LightGCN users [U, d], LightGCN items [I, d], views H^m = (A^m)^L E_id [I, d])."""
        adj = self.graphs.adj  # raises ModelNotPrepared before prepare
        graphs = self._cache.get(self.modal_graphs, self.training)
        layers = self.cfg.micro.item_layers
        views = [propagate_items(g, self.item_table.weight, layers) for g in graphs]
        ego = torch.cat([self.user_table.weight, self.item_table.weight])  # [U + I, d]
        final = lightgcn_mean(adj, ego, self.cfg.n_layers)
        return final[: self.n_users], final[self.n_users :], views

    def fuse(self, views: list[Tensor]) -> Tensor:
        """Attention fusion H = sum_m beta^m H^m, beta = softmax_m q(H^m): [n, d]."""
        stacked = torch.stack(views, 1)  # [n, M, d]
        beta = torch.softmax(self.query(stacked), dim=1)  # [n, M, 1]
        return (beta * stacked).sum(1)

    def propagate(self) -> tuple[Tensor, Tensor]:
        users, items, views = self._backbone_and_views()
        return users, items + F.normalize(self.fuse(views), dim=1)

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        """BPR + L2 + contrastive fusion, with fusion computed for the batch's items only
        (the attention MLP over every item each step would cost I x M x d^2 for nothing)."""
        users, light_items, views = self._backbone_and_views()
        size = len(batch.pos_items)
        rows, where = torch.unique(
            torch.cat([batch.pos_items, batch.neg_items]), return_inverse=True
        )  # rows [R]: the batch's distinct items; where [2B]: each triple's row position
        row_views = [view[rows] for view in views]  # [R, d] each
        fused = self.fuse(row_views)  # [R, d]
        items = light_items[rows] + F.normalize(fused, dim=1)  # [R, d]
        local = Batch(batch.users, where[:size], where[size:], batch.override)
        terms = bpr_terms(users, items, local, self.cfg.reg)
        anchors = self._contrast_rows(len(rows), rows.device)
        tau = self.cfg.micro.cl_temperature
        cl = sum(
            (fusion_infonce(view[anchors], fused[anchors], tau) for view in row_views),
            start=torch.zeros((), device=fused.device),
        )
        terms["contrastive"] = self.cfg.micro.cl_weight * cl
        return terms

    def _contrast_rows(self, n_rows: int, device: torch.device) -> Tensor:
        """Positions of the contrastive anchors among the batch's distinct items: all of them,
        or `cl_max_items` of them at random."""
        limit = self.cfg.micro.cl_max_items
        if n_rows > limit:
            return torch.randperm(n_rows, device=device)[:limit]
        return torch.arange(n_rows, device=device)


def fusion_infonce(z1: Tensor, z2: Tensor, tau: float) -> Tensor:
    """GRACE's one-sided InfoNCE over n anchors: mean_i -log e^{s(z1_i, z2_i)/tau} /
    (sum_j e^{s(z1_i, z2_j)/tau} + sum_{j != i} e^{s(z1_i, z1_j)/tau}), s = cosine."""
    a = F.normalize(z1, dim=1)
    b = F.normalize(z2, dim=1)
    between = a @ b.T / tau  # [n, n]
    refl = a @ a.T / tau  # [n, n]
    eye = torch.eye(len(a), dtype=torch.bool, device=a.device)
    refl = refl.masked_fill(eye, float("-inf"))
    log_denominator = torch.logsumexp(torch.cat([between, refl], dim=1), dim=1)  # [n]
    return (log_denominator - between.diagonal()).mean()
