"""LightGCN (He et al., SIGIR'20): the plain graph baseline; cold items go through the projector."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.base import RecModel
from models.config import ModelConfig
from models.graph import spmm


class LightGCN(RecModel):
    """E^(l+1) = A E^(l); final embedding = mean of layers 0..L, for users and items alike."""

    name = "lightgcn"

    def __init__(
        self, cfg: ModelConfig, n_users: int, n_items: int, modal_dims: dict[str, int]
    ) -> None:
        super().__init__(cfg, n_users, n_items, modal_dims)
        self.user_table = nn.Embedding(n_users, cfg.dim)
        self.item_table = nn.Embedding(n_items, cfg.dim)
        nn.init.xavier_uniform_(self.user_table.weight)
        nn.init.xavier_uniform_(self.item_table.weight)

    def propagate(self) -> tuple[Tensor, Tensor]:
        ego = torch.cat([self.user_table.weight, self.item_table.weight])  # [U + I, d]
        total = ego
        layer = ego
        for _ in range(self.cfg.n_layers):
            layer = spmm(self.graphs.adj, layer)
            total = total + layer
        final = total / (self.cfg.n_layers + 1)
        return final[: self.n_users], final[self.n_users :]
