"""`coldrec train --deploy`: choose on the evaluation protocol, then refit on everything.

1. The evaluation run is the usual one (`trainer.train`: cold items and warm interactions held
   out). On its validation it chooses the backbone's epoch (best warm Recall@20), the
   projector's epoch (best cold-only Recall@20) and the projector's loudness multiplier (cold
   items get the share of validation top-20 lists they have of validation interactions).
2. The refit, with the same configuration and seed, trains on every interaction with nothing
   held out: the backbone exactly the chosen epochs, the projector exactly its chosen epochs,
   each keeping its last epoch. The projector's norm match (its `output_scale`: projected warm
   items get the trained warm items' mean norm) is re-derived on the refit's own items, as in
   every run, since it only measures how long the refit's vectors are. The multiplier on top of
   it needs held-out cold items to be chosen, which the refit has none of, so the evaluation
   run's is reused: it is relative to the norm match, not to any one run's vectors.
3. Items that no interaction names are catalogue-only in both runs (`Split.catalogue_items`):
   they never enter a model, the projector embeds them from their features, and the bundle
   lists them as projected (served as cold items), as every run's bundle does.
4. The cold-start constants chosen on the evaluation run's validation (metrics.json
   `cold_start`, e.g. simulated edges) go into the refit's bundle and its projected items go
   through the same steps as the service's new items.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.simulated_edges import EdgesConfig
from training.config import RunConfig
from training.data.dataset import Dataset
from training.evaluation.simulated_edges import apply_edges
from training.fitting.distributed import Ranks
from training.fitting.projector import embed_all_items
from training.fitting.trainer import TrainResult, make_split, train
from training.protocol.splits import train_everything


@dataclass
class DeployFit:
    """Both runs: `evaluation` (its metrics carry the `deploy` section) and `refit` (the bundle)."""

    evaluation: TrainResult
    refit: TrainResult
    bundled: np.ndarray  # sorted dataset items the bundle holds
    projected: np.ndarray  # sorted dataset items among `bundled` embedded by the projector


def deploy_fit(
    dataset: Dataset,
    model_name: str,
    cfg: RunConfig,
    *,
    progress: bool = True,
    ranks: Ranks | None = None,
) -> DeployFit | None:
    """The evaluation run, then the refit on every item and interaction with its choices.

    Under torchrun (`ranks`) both backbones train data-parallel on every rank; a rank other
    than 0 returns None after the refit's backbone (rank 0 alone fits the projectors)."""
    side = ranks is not None and not ranks.is_main
    split = make_split(dataset, cfg)
    if dataset.modalities and not len(split.cold_valid_items):
        raise ValueError(
            "--deploy chooses the projector's epoch and loudness on cold validation items, and "
            "this split holds none: use the cold split with --cold-fraction above 0"
        )
    evaluation = train(dataset, model_name, cfg, split=split, progress=progress, ranks=ranks)
    backbone_epochs = int(evaluation.metrics["best_epoch"])
    if backbone_epochs < 1:
        raise ValueError("the evaluation run chose no backbone epoch (validation never ran)")
    chosen = {} if side else evaluation.metrics["projector"]
    refit_cfg = copy.deepcopy(cfg)
    refit_cfg.train.epochs = backbone_epochs
    refit_cfg.train.time_budget_s = 0.0
    if evaluation.model.projector is not None and not side:
        refit_cfg.train.projector_epochs = int(chosen["best_epoch"])

    started = time.perf_counter()
    everything = train_everything(dataset, cfg.train.seed)
    refit = train(
        dataset,
        model_name,
        refit_cfg,
        split=everything,
        progress=progress,
        evaluate=False,
        ranks=ranks,
    )
    if side:
        return None
    projector = refit.model.projector
    multiplier = float(chosen["scale_multiplier"])  # as metrics.json states it (5 decimals)
    if projector is not None:
        scale = projector.get_buffer("output_scale")  # the refit's norm match
        with torch.no_grad():
            scale.mul_(multiplier)
        warm_t = torch.from_numpy(refit.item_emb[refit.view.warm_items])
        refit.item_emb = embed_all_items(refit.model, dataset, refit.view, warm_t)
        # the cold-start constants chosen on the evaluation's validation, applied to the refit's
        # projected (catalogue-only) items as the service applies them to new ones
        refit.metrics["cold_start"] = dict(evaluation.metrics.get("cold_start", {}))
        edges = EdgesConfig.from_manifest(refit.metrics["cold_start"])
        refit.item_emb = apply_edges(
            edges, refit.user_emb, refit.item_emb, dataset, refit.split, projector
        )
        refit.metrics["projector"].update(
            scale_multiplier=round(multiplier, 5), output_scale=round(float(scale), 5)
        )
    bundled, projected = refit.bundle_items()
    evaluation.metrics["deploy"] = _section(
        evaluation, refit, backbone_epochs, len(bundled), len(projected)
    )
    evaluation.metrics["deploy"]["refit_seconds"] = round(time.perf_counter() - started, 2)
    return DeployFit(evaluation, refit, bundled, projected)


def _section(
    evaluation: TrainResult,
    refit: TrainResult,
    backbone_epochs: int,
    n_items: int,
    n_projected: int,
) -> dict[str, Any]:
    """The `deploy` section of metrics.json: what was chosen, on what, and what the refit did."""
    has_projector = refit.model.projector is not None
    chosen = evaluation.metrics["projector"]
    return {
        "chosen_on": "validation of the evaluation run (the figures of this file)",
        "backbone_epochs": backbone_epochs,
        "projector_epochs": int(chosen["best_epoch"]) if has_projector else None,
        "scale_multiplier": chosen["scale_multiplier"] if has_projector else None,
        "why": {
            "backbone_epochs": "best validation Recall@20 on warm items",
            "projector_epochs": "best validation Recall@20 of cold items in the cold-only pool",
            "scale_multiplier": "reused: cold items' share of validation top-20 lists equals "
            "their share of validation interactions; the norm match under it is re-derived "
            "on the refit's trained items",
        },
        "refit": {
            "interactions": int(len(refit.view.train_users)),
            "items_trained": int(len(refit.view.warm_items)),
            "epochs_run": refit.metrics["epochs_run"],
            "train_seconds": refit.metrics["train_seconds"],
            "output_scale": refit.metrics["projector"].get("output_scale"),
        },
        "n_items": n_items,
        "n_projected": n_projected,
        "cold_start": dict(refit.metrics.get("cold_start", {})),
        # items with no interaction and no projector (no modalities): not servable
        "n_left_out": len(refit.split.catalogue_items) - n_projected,
    }
