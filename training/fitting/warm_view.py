"""The training catalogue a model sees: warm items renumbered, cold items left out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.base import TrainGraphs
from models.graph import bipartite_adjacency
from training.data.dataset import Dataset
from training.protocol.splits import Part, Split


@dataclass
class WarmView:
    """The training catalogue: warm items renumbered 0..n_warm-1 (cold items never enter)."""

    warm_items: np.ndarray  # [n_warm] dataset item index of each model item row
    row_of_item: np.ndarray  # [n_items] model row of each dataset item, -1 for cold items
    train_users: np.ndarray  # [E] training interactions, user index
    train_rows: np.ndarray  # [E] training interactions, model item row

    @classmethod
    def build(cls, dataset: Dataset, split: Split) -> WarmView:
        warm = split.warm_items(dataset.n_items)
        row_of_item = np.full(dataset.n_items, -1, dtype=np.int64)
        row_of_item[warm] = np.arange(len(warm))
        train = split.part == Part.TRAIN
        return cls(warm, row_of_item, dataset.users[train], row_of_item[dataset.items[train]])

    def graphs(self, dataset: Dataset) -> TrainGraphs:
        n_warm = len(self.warm_items)
        adj = bipartite_adjacency(self.train_users, self.train_rows, dataset.n_users, n_warm)
        features = {
            name: torch.from_numpy(np.ascontiguousarray(feats[self.warm_items]))
            for name, feats in sorted(dataset.modalities.items())
        }
        return TrainGraphs(
            n_users=dataset.n_users,
            n_items=n_warm,
            users=torch.from_numpy(self.train_users),
            items=torch.from_numpy(self.train_rows),
            adj=adj,
            features=features,
        )
