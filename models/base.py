"""The one interface every recommender implements, so one contract suite and one index serve all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ModelConfig
from models.projection import ModalProjector


class ModelNotPrepared(RuntimeError):
    """A method that needs the training graphs was called before `prepare`."""


@dataclass
class TrainGraphs:
    """What a model trains on: warm items only, indexed 0..n_items-1 (cold items never enter).

    `adj` is the symmetric-normalised bipartite adjacency D^-1/2 [[0, R], [R^T, 0]] D^-1/2 over
    users then items; `features` are the frozen modality features of the same items.
    """

    n_users: int
    n_items: int
    users: Tensor  # [E] int64, training interactions
    items: Tensor  # [E] int64
    adj: Tensor  # sparse [U + I, U + I]
    features: dict[str, Tensor]  # name -> [n_items, d_m] float32


@dataclass
class ItemOverride:
    """Final item embeddings that stand in for the graph's in some of a batch's BPR triples
    (ID dropout, issue 13: the trainer puts the projector's output there). `rows` index the
    triples' items concatenated as [positives; negatives], so the override holds whichever
    rows a model gathers its item embeddings from (MICRO gathers from the batch's distinct
    items, in the same triple order)."""

    rows: Tensor  # [n] int64 positions in [pos; neg], 0..2B-1
    values: Tensor  # [n, d], with gradients into whatever produced them

    def apply(self, both: Tensor) -> Tensor:
        """The [2B, d] item embeddings of the triples with `rows` replaced (a new tensor)."""
        return both.index_put((self.rows,), self.values)


@dataclass
class Batch:
    users: Tensor  # [B] int64
    pos_items: Tensor  # [B]
    neg_items: Tensor  # [B]
    override: ItemOverride | None = None  # item embeddings bpr_terms uses instead (ID dropout)


class RecModel(nn.Module, ABC):
    """Base class. Subclasses implement `propagate` and may add loss terms and epoch hooks.

    Lifecycle: construct (no I/O, no device choice) -> `prepare(graphs)` once -> per epoch
    `begin_epoch(epoch)` then `loss(batch)` per batch -> `user_embeddings()` / `item_embeddings()`
    for export, `encode_items(features)` for items the graph never saw.
    """

    name: str = "base"

    def __init__(
        self, cfg: ModelConfig, n_users: int, n_items: int, modal_dims: dict[str, int]
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_users = n_users
        self.n_items = n_items
        self.modal_dims = dict(modal_dims)
        self.projector: ModalProjector | None = (
            ModalProjector(modal_dims, cfg.dim, cfg.projector) if modal_dims else None
        )
        self._graphs: TrainGraphs | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self, graphs: TrainGraphs) -> None:
        """Keep the training graphs and build static structures (e.g. frozen kNN graphs)."""
        if graphs.n_users != self.n_users or graphs.n_items != self.n_items:
            raise ValueError("graphs do not match the model's user/item counts")
        self._graphs = graphs

    @property
    def graphs(self) -> TrainGraphs:
        if self._graphs is None:
            raise ModelNotPrepared(f"{self.name}: call prepare(graphs) first")
        return self._graphs

    def begin_epoch(self, epoch: int) -> dict[str, float]:
        """Per-epoch work outside the batch loop (graph rebuilds, side models). Returns logs."""
        return {}

    def recommender_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters the main optimizer trains: everything but the projector by default."""
        skip = {id(p) for p in self.projector.parameters()} if self.projector else set()
        return (p for p in self.parameters() if id(p) not in skip)

    # -- training ------------------------------------------------------------------------------
    @abstractmethod
    def propagate(self) -> tuple[Tensor, Tensor]:
        """Final user and item embeddings from the graphs: ([U, d], [I, d]), with gradients."""

    def loss(self, batch: Batch) -> dict[str, Tensor]:
        """BPR plus L2 on the batch's final embeddings; subclasses add their named terms."""
        users, items = self.propagate()
        return bpr_terms(users, items, batch, self.cfg.reg)

    # -- export --------------------------------------------------------------------------------
    @torch.no_grad()
    def embeddings(self) -> tuple[Tensor, Tensor]:
        was_training = self.training
        self.eval()
        try:
            users, items = self.propagate()
        finally:
            self.train(was_training)
        return users.detach(), items.detach()

    def user_embeddings(self) -> Tensor:
        return self.embeddings()[0]  # [U, d]

    def item_embeddings(self) -> Tensor:
        return self.embeddings()[1]  # [I, d]

    def encode_items(self, features: dict[str, Tensor]) -> Tensor:
        """Inductive item embeddings from content features alone: [n, d]."""
        if self.projector is None:
            raise ModelNotPrepared(
                f"{self.name}: the dataset has no modalities to encode items from"
            )
        out: Tensor = self.projector(features)
        return out

    def native_cold_embeddings(self, features: dict[str, Tensor]) -> Tensor | None:
        """What the model's own architecture, without the projector, gives items that have no
        interaction: [n, d], or None when it has no such path (the default: an ID-only model).

        A diagnostic of the original method's cold start (issue 3 item 4), never used to serve.
        """
        return None


def bpr_terms(users: Tensor, items: Tensor, batch: Batch, reg: float) -> dict[str, Tensor]:
    """BPR = mean(-log sigmoid(s+ - s-)) and reg * 1/2 (|u|^2 + |i+|^2 + |i-|^2) / B, over the
    batch's item embeddings after its `override` (if any) replaced some of them."""
    u = users[batch.users]  # [B, d]
    # one gather for both item sides: a single scatter in backward instead of two
    both = items[torch.cat([batch.pos_items, batch.neg_items])]  # [2B, d]
    if batch.override is not None:
        both = batch.override.apply(both)
    pos, neg = both.chunk(2)  # [B, d] each
    margin = (u * pos).sum(1) - (u * neg).sum(1)
    bpr = F.softplus(-margin).mean()
    l2 = 0.5 * (u.pow(2).sum() + pos.pow(2).sum() + neg.pow(2).sum()) / len(batch.users)
    return {"bpr": bpr, "reg": reg * l2}
