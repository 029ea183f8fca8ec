"""ID and modality dropout (issue 13): train the backbone and the projector for items it has
never seen, on the trainer's final embeddings, the same way for every model.

ID dropout (DropoutNet, Volkovs et al. NeurIPS'17; Heater, Zhu et al. SIGIR'20): while the
backbone trains, each item of a BPR triple has its final embedding replaced, with probability
`id_dropout`, by the projector's output for its features (`models.base.ItemOverride`, applied
inside `bpr_terms`), and the projector is trained jointly on the same loss by its own Adam. The
users then learn to score projected items beside trained ones, so warm and cold items share one
scale; a projected item's loss reaches the users and the projector, not its ID embedding.

Modality dropout (MILK, SIGIR'24, invariance to missing modalities): each modality of a
projector input is zeroed with probability `modality_dropout`, one of an item's modalities
always kept, which is exactly what the projector is fed for an item registered without that
modality (`ModalProjector.concat`); used here and in the projector's own fit.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from models.base import Batch, ItemOverride, RecModel
from training.config import ColdTrainingConfig

if TYPE_CHECKING:
    from training.fitting.projector import ProjectorFit


def drop_modalities(features: dict[str, Tensor], rate: float) -> dict[str, Tensor]:
    """`features` {name: [n, d_m]} with each item's modality zeroed with probability `rate`,
    independently, an item whose every modality drew a drop keeping one of them at random
    (torch's seeded generator). Unchanged (the same dict) at rate 0 or with one modality."""
    names = sorted(features)
    if rate <= 0 or len(names) < 2:
        return features
    n = int(features[names[0]].shape[0])
    dropped = torch.rand(n, len(names)) < rate  # [n, M]
    every = dropped.all(dim=1)  # [n]
    keep = torch.randint(len(names), (n,))  # [n]
    dropped[every, keep[every]] = False
    return {
        m: features[m] * (~dropped[:, j]).unsqueeze(1).to(features[m].dtype)
        for j, m in enumerate(names)
    }


class IdDropout:
    """The backbone trainer's ID dropout: puts projected items into a batch, steps the projector.

    Per step: `batch = dropout.apply(batch)` before the loss, `zero_grad()` beside the main
    optimizer's, `step()` after backward.
    """

    def __init__(self, model: RecModel, cfg: ColdTrainingConfig, lr: float) -> None:
        if model.projector is None:
            raise ValueError("ID dropout needs a projector: the dataset has no modalities")
        self.projector = model.projector
        self.features = model.graphs.features  # {name: [n_warm, d_m]}, model item rows
        self.rate = cfg.id_dropout
        self.modality_rate = cfg.modality_dropout
        self.optimizer = torch.optim.Adam(self.projector.parameters(), lr=lr)
        self.replaced = 0  # triple items replaced so far
        self.seen = 0

    @classmethod
    def make(cls, model: RecModel, cfg: ColdTrainingConfig, lr: float) -> IdDropout | None:
        """The dropout `cfg` asks for, or None when `id_dropout` is 0 (training as before)."""
        if not 0 <= cfg.id_dropout <= 1:
            raise ValueError(
                f"train.cold_training.id_dropout must be in [0, 1], not {cfg.id_dropout}"
            )
        return cls(model, cfg, lr) if cfg.id_dropout > 0 else None

    def apply(self, batch: Batch) -> Batch:
        """`batch` with an override: each of its 2B items projected with probability p."""
        both = torch.cat([batch.pos_items, batch.neg_items])  # [2B] model item rows
        rows = torch.nonzero(torch.rand(len(both)) < self.rate).squeeze(1)  # [n]
        self.replaced += len(rows)
        self.seen += len(both)
        if not len(rows):
            return batch
        items = both[rows]
        inputs = drop_modalities(
            {m: x[items] for m, x in self.features.items()}, self.modality_rate
        )
        values = self.projector(inputs)  # [n, d], with gradients into the projector
        return Batch(batch.users, batch.pos_items, batch.neg_items, ItemOverride(rows, values))

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.optimizer.step()

    def summary(self) -> dict[str, Any]:
        """What metrics.json records of it: the share of triple items it replaced."""
        return {"replaced_share": round(self.replaced / max(self.seen, 1), 5)}


def used(cfg: ColdTrainingConfig) -> list[str]:
    """The options a run used (non-zero), in field order."""
    return [name for name, value in vars(cfg).items() if value]


def record(
    cfg: ColdTrainingConfig, id_dropout: dict[str, Any], projector: ProjectorFit
) -> dict[str, Any]:
    """metrics.json's `cold_training` section: every option's value and the ones used; with
    any used, what ID dropout did and the projector fit's loss terms per epoch."""
    out: dict[str, Any] = {"used": used(cfg), **dataclasses.asdict(cfg)}
    if out["used"]:
        out["id_dropout_log"] = id_dropout
        out["projector_terms"] = [
            {k: round(v, 6) for k, v in row.items()} for row in projector.terms_history
        ]
    return out
