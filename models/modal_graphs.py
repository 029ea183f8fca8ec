"""What LATTICE and MICRO share: feature checks, the LightGCN backbone, learned kNN graphs,
and the base class holding them (`KnnGraphRecModel`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from models.base import RecModel, TrainGraphs
from models.config import LatticeConfig, MicroConfig, ModelConfig
from models.graph import spmm
from models.knn import Edges, cosine_topk, edge_spmm, knn_edges


def check_modal_features(graphs: TrainGraphs, modal_dims: dict[str, int]) -> dict[str, Tensor]:
    """The frozen features of each modality the model was built for, checked: {name: [I, d_m]}."""
    out: dict[str, Tensor] = {}
    for name, dim in sorted(modal_dims.items()):
        x = graphs.features.get(name)
        if x is None:
            raise ValueError(f"graphs carry no {name!r} features")
        if x.ndim != 2 or x.shape[0] != graphs.n_items or x.shape[1] != dim:
            raise ValueError(
                f"{name!r} features must be [{graphs.n_items}, {dim}], got {list(x.shape)}"
            )
        out[name] = x.detach().float()  # frozen: never a parameter (inductive serving)
    return out


def require_modalities(name: str, modal_dims: dict[str, int]) -> None:
    if not modal_dims:
        raise ValueError(f"{name} needs at least one item modality")


def lightgcn_mean(adj: Tensor, ego: Tensor, n_layers: int) -> Tensor:
    """LightGCN: mean of A^l ego for l = 0..L: [N, d]."""
    total = ego
    layer = ego
    for _ in range(n_layers):
        layer = spmm(adj, layer)
        total = total + layer
    return total / (n_layers + 1)


def propagate_items(graph: Edges | Tensor, table: Tensor, n_layers: int) -> Tensor:
    """H = A^L E over an item graph, no weights (LATTICE/MICRO item convolution): [I, d].

    `graph` is triplets whose weights may carry gradients, or a constant sparse tensor.
    """
    h = table
    for _ in range(n_layers):
        h = edge_spmm(graph, h) if isinstance(graph, Edges) else spmm(graph, h)
    return h


class ModalKnnGraphs(nn.Module):
    """Per modality m: a frozen graph N(kNN(cos x^m)) and a learned one over h^m = W_m x^m + b.

    The learned graph's neighbour lists live in buffers (`knn_<m>`, [I, k]) so that a restored
    state_dict restores the graph with them; its edge weights are the cosines of h^m,
    differentiable in W_m. `refresh` re-selects neighbours from the current W_m (per epoch).
    """

    def __init__(
        self, modal_dims: dict[str, int], n_items: int, k: int, embed_dim: int, chunk: int
    ) -> None:
        super().__init__()
        self.names = sorted(modal_dims)
        self.k = min(k, n_items)
        self.chunk = chunk
        self.proj = nn.ModuleDict({m: nn.Linear(modal_dims[m], embed_dim) for m in self.names})
        for m in self.names:
            self.register_buffer(f"knn_{m}", torch.full((n_items, self.k), -1, dtype=torch.int64))
        self._features: dict[str, Tensor] = {}
        self.frozen: dict[str, Edges] = {}

    def prepare(self, features: dict[str, Tensor]) -> None:
        self._features = {m: features[m] for m in self.names}
        with torch.no_grad():
            self.frozen = {m: knn_edges(x, self.k, self.chunk) for m, x in self._features.items()}

    def indices(self, m: str) -> Tensor:
        buf: Tensor = getattr(self, f"knn_{m}")
        return buf

    @property
    def selected(self) -> bool:
        return all(bool((self.indices(m) >= 0).all()) for m in self.names)

    @torch.no_grad()
    def refresh(self) -> None:
        """Re-select each item's k nearest neighbours in the learned space."""
        for m in self.names:
            h = self.proj[m](self._features[m])  # [I, embed_dim]
            self.indices(m).copy_(cosine_topk(h, self.k, self.chunk))

    def learned(self, m: str, normalize: bool) -> Edges:
        """kNN(cos h^m) on the stored neighbour lists, weights with gradients."""
        if not self.selected:
            self.refresh()
        h = self.proj[m](self._features[m])  # [I, embed_dim]
        return knn_edges(h, self.k, indices=self.indices(m), normalize=normalize)


class EpochGraphCache:
    """LATTICE's schedule (MODELS.md 1.1.7): the first training batch after `invalidate` builds
    the item graphs with gradients (so W_m and the modality weights learn once per epoch); later
    training batches reuse them detached. Outside training mode the graphs are rebuilt from the
    current weights and neighbour lists, so exported embeddings are a function of the state_dict.
    """

    def __init__(self) -> None:
        self._cached: list[Tensor] | None = None
        self._grad_pending = True

    def invalidate(self, with_grad: bool = True) -> None:
        self._cached = None
        self._grad_pending = with_grad

    def get(self, build: Callable[[], list[Edges]], training: bool) -> list[Edges] | list[Tensor]:
        """Triplets with gradients (first training batch) or constant sparse tensors."""
        if not training:
            with torch.no_grad():
                return [g.detached().to_sparse() for g in build()]
        if torch.is_grad_enabled() and self._grad_pending:
            graphs = build()
            self._cached = [g.detached().to_sparse() for g in graphs]
            self._grad_pending = False
            return graphs
        if self._cached is None:
            with torch.no_grad():
                self._cached = [g.to_sparse() for g in build()]
        return self._cached


class KnnGraphRecModel(RecModel):
    """LATTICE's and MICRO's common part: id tables, per-modality kNN item graphs over the frozen
    features (`item_graphs`: frozen and learned), and the cache that keeps the learned graph for
    the rest of an epoch once its first batch has built it."""

    def __init__(
        self,
        cfg: ModelConfig,
        n_users: int,
        n_items: int,
        modal_dims: dict[str, int],
        graph_cfg: LatticeConfig | MicroConfig,
    ) -> None:
        super().__init__(cfg, n_users, n_items, modal_dims)
        require_modalities(self.name, modal_dims)
        self.user_table = nn.Embedding(n_users, cfg.dim)
        self.item_table = nn.Embedding(n_items, cfg.dim)
        nn.init.xavier_uniform_(self.user_table.weight)
        nn.init.xavier_uniform_(self.item_table.weight)
        self.item_graphs = ModalKnnGraphs(
            modal_dims, n_items, graph_cfg.knn_k, graph_cfg.feat_embed_dim, graph_cfg.knn_chunk
        )
        self._cache = EpochGraphCache()
        self.register_load_state_dict_post_hook(  # type: ignore[no-untyped-call]
            lambda module, keys: self._cache.invalidate(False)
        )

    def prepare(self, graphs: TrainGraphs) -> None:
        features = check_modal_features(graphs, self.modal_dims)  # raises before any state changes
        super().prepare(graphs)
        self.item_graphs.prepare(features)
        self._cache.invalidate()

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        """Re-select the learned graphs' neighbours; the epoch's first batch learns weights."""
        self.item_graphs.refresh()
        self._cache.invalidate()
        return {}
