"""Fit a recommender on the warm training graph, select on validation, fit its cold projector."""

from __future__ import annotations

import copy
import logging
import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from models.base import Batch, RecModel
from models.registry import model_class
from training.config import RunConfig
from training.data.dataset import Dataset
from training.evaluation.content_baseline import content_baseline
from training.evaluation.content_floor import select_floor
from training.evaluation.diagnostics import cold_start_diagnostics
from training.evaluation.ranking import evaluate_tracks, random_tracks, rank_metrics
from training.evaluation.simulated_edges import select_edges
from training.fitting import cold_training, distributed, memory
from training.fitting.distributed import Ranks
from training.fitting.projector import embed_all_items, fit_projector
from training.fitting.warm_view import WarmView
from training.protocol.sampling import BprSampler
from training.protocol.splits import Part, Split, shipped_split, split_cold_warm

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    model: RecModel
    split: Split
    view: WarmView
    user_emb: np.ndarray  # [n_users, d]
    item_emb: np.ndarray  # [n_items, d], every dataset item: warm rows trained, cold projected
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)

    def bundle_items(self) -> tuple[np.ndarray, np.ndarray]:
        """(items the bundle holds, those of them projected), sorted dataset items: the trained
        items plus the catalogue-only ones the projector embedded (none without a projector:
        they have no vector to serve). The held-out cold items are registered by the service."""
        if self.model.projector is None:
            projected = np.zeros(0, dtype=np.int64)
        else:
            projected = self.split.catalogue_items.astype(np.int64)
        return np.union1d(self.view.warm_items, projected), projected


def train(
    dataset: Dataset,
    model_name: str,
    cfg: RunConfig,
    *,
    split: Split | None = None,
    progress: bool = True,
    evaluate: bool = True,
    ranks: Ranks | None = None,
) -> TrainResult:
    """The whole offline run: split, fit, early-stop on validation Recall@20, fit the projector,
    evaluate every track on validation and test, and return everything export needs.

    `evaluate=False` (the deploy refit, training/fitting/deploy.py): no validation and no tracks;
    the backbone trains exactly `train.epochs` epochs and keeps the last, the projector trains
    `train.projector_epochs` (it selects only on cold validation items, and `split` has none).

    `ranks` (torchrun, training/fitting/distributed.py): the backbone trains data-parallel on
    every rank; a rank other than 0 then returns at once (its result holds the backbone and
    `best_epoch`, no projector fit, no metrics), rank 0 goes on alone.
    """
    tc = cfg.train
    run_started = time.perf_counter()
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    if tc.retain_freed_memory:
        memory.retain_freed_memory()
    torch.manual_seed(tc.seed)
    split = split or make_split(dataset, cfg)
    view = WarmView.build(dataset, split)
    graphs = view.graphs(dataset)
    model = model_class(model_name)(
        cfg.model, dataset.n_users, len(view.warm_items), dataset.modal_dims
    )
    model.prepare(graphs)
    started = time.perf_counter()
    fit = _fit_backbone(model, dataset, split, view, cfg, progress, evaluate, ranks)
    history, best_epoch, epoch_seconds = fit.history, fit.best_epoch, fit.epoch_seconds
    train_seconds = time.perf_counter() - started
    if ranks is not None and not ranks.is_main:  # rank 0 alone fits the projector and reports
        done = {"best_epoch": best_epoch, "epochs_run": len(history), "rank": ranks.rank}
        empty = np.zeros((0, 0), dtype=np.float32)
        return TrainResult(model, split, view, empty, empty, done, history)

    user_t, warm_t = model.embeddings()
    projector = fit_projector(model, dataset, split, view, user_t, warm_t, tc, progress)
    item_emb = embed_all_items(model, dataset, view, warm_t)
    user_emb = user_t.numpy()
    edges = None  # issue 13: projected items get simulated edges where validation says so
    if evaluate and tc.simulated_edges and model.projector is not None:
        edges = select_edges(user_emb, item_emb, dataset, split, model.projector)
        item_emb = edges.item_emb
    if not evaluate:
        metrics: dict[str, Any] = {
            "model": model_name,
            "dataset": dataset.name,
            "epochs_run": len(history),
            "train_seconds": round(train_seconds, 2),
            "total_seconds": round(time.perf_counter() - run_started, 2),
            "projector": projector.summary(),
            "history": history,
            "cold_training": cold_training.record(tc.cold_training, fit.id_dropout, projector),
        }
        if ranks is not None:
            metrics["distributed"] = ranks.summary(tc.batch_size)
        return TrainResult(model, split, view, user_emb, item_emb, metrics, history)
    metrics = {
        "model": model_name,
        "dataset": dataset.name,
        "test": evaluate_tracks(user_emb, item_emb, dataset, split, phase="test"),
        "valid": evaluate_tracks(user_emb, item_emb, dataset, split, phase="valid"),
        "random": {"test": random_tracks(dataset, split, phase="test", seed=tc.seed)},
        "content": content_baseline(dataset, split),  # no training: mean item content
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "stopped_by": fit.stopped_by,
        "train_seconds": round(train_seconds, 2),
        "epoch_seconds_median": round(statistics.median(epoch_seconds), 3),
        "total_seconds": round(time.perf_counter() - run_started, 2),
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
        "projector": projector.summary(),
        "history": history,
        "cold_training": cold_training.record(tc.cold_training, fit.id_dropout, projector),
    }
    if ranks is not None:
        metrics["distributed"] = ranks.summary(tc.batch_size)
    if edges is not None:
        metrics["simulated_edges"] = edges.section
        metrics.setdefault("cold_start", {}).update(edges.cold_start)
    if len(split.catalogue_items):  # items no interaction names: projected, never evaluated
        metrics["catalogue_only_items"] = len(split.catalogue_items)
    # DiffMM's own cold path ("before") beside the projector's ("after"), issue 3 item 4
    diagnostics = cold_start_diagnostics(model, dataset, split, view, user_emb, item_emb)
    if diagnostics:
        metrics["diagnostics"] = diagnostics
    if tc.content_floor != "off" and dataset.modalities:  # issue 13: never below content
        floor = select_floor(user_emb, item_emb, dataset, split, tc.content_floor)
        metrics["content_floor"] = floor.section
        metrics.setdefault("cold_start", {}).update(floor.cold_start)
    return TrainResult(model, split, view, user_emb, item_emb, metrics, history)


def make_split(dataset: Dataset, cfg: RunConfig) -> Split:
    """The split `cfg.train.split` names: our seeded cold/warm split, or the shipped one."""
    tc = cfg.train
    if tc.split == "cold":
        return split_cold_warm(dataset, tc.cold_fraction, tc.seed)
    if tc.split == "shipped":
        return shipped_split(dataset)
    raise ValueError(f"unknown split {tc.split!r}; choose cold or shipped")


def _fit_backbone(
    model: RecModel,
    dataset: Dataset,
    split: Split,
    view: WarmView,
    cfg: RunConfig,
    progress: bool,
    evaluate: bool = True,
    ranks: Ranks | None = None,
) -> _Fit:
    """Train up to `train.epochs`, keeping the best validation epoch; without `evaluate`, train
    them all and keep the last. Under `ranks` each rank trains on its shard of every epoch's
    batches with DDP, rank 0 validates and decides when to stop for all (distributed.py)."""
    tc = cfg.train
    sampler = BprSampler(
        view.train_users, view.train_rows, len(view.warm_items), tc.batch_size, tc.seed
    )
    optimizer = torch.optim.Adam(model.recommender_parameters(), lr=tc.lr, fused=True)
    id_dropout = cold_training.IdDropout.make(model, tc.cold_training, tc.projector_lr)
    if id_dropout is not None and ranks is not None:
        raise ValueError("train.cold_training.id_dropout trains in one process, not under torchrun")
    main = ranks is None or ranks.is_main
    validator = _WarmValidator(dataset, split, view) if evaluate and main else None
    loss_of = model.loss if ranks is None else distributed.DataParallelLoss(model)
    # batches an epoch trains on, over every rank (the last step's wrapped ones included)
    n_batches = len(sampler) if ranks is None else distributed.batches_per_epoch(sampler, ranks)
    best_score, best_epoch, best_state, stale = -1.0, 0, copy.deepcopy(model.state_dict()), 0
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    stopped_by = "epochs"
    fit_started = time.perf_counter()
    bar = tqdm(range(1, tc.epochs + 1), desc=f"train {model.name}", disable=not (progress and main))
    for epoch in bar:
        tick = time.perf_counter()
        model.train()
        if ranks is not None:
            distributed.sync_rng()
        logs = model.begin_epoch(epoch)
        batches = sampler.epoch()
        if ranks is not None:
            distributed.sync_buffers(model)
            batches = distributed.shard(batches, len(sampler), ranks)
        totals: dict[str, float] = {}
        for users, pos, neg in batches:
            batch = Batch(torch.from_numpy(users), torch.from_numpy(pos), torch.from_numpy(neg))
            if id_dropout is not None:  # some items' final embeddings: their projections
                batch = id_dropout.apply(batch)
                id_dropout.zero_grad()
            terms = loss_of(batch)
            loss = torch.stack(list(terms.values())).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if id_dropout is not None:
                id_dropout.step()
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach())
        if ranks is not None:
            totals = distributed.sum_over_ranks(totals)
        epoch_seconds.append(time.perf_counter() - tick)
        row: dict[str, float] = {"epoch": epoch, "seconds": round(epoch_seconds[-1], 3)}
        row.update({k: v / n_batches for k, v in totals.items()})
        row["loss"] = sum(totals.values()) / n_batches
        row.update(logs)
        if not evaluate:
            best_epoch = epoch
        elif epoch % tc.eval_every == 0 or epoch == tc.epochs:
            score = validator.recall20(model) if validator is not None else -1.0
            if ranks is not None:
                score = distributed.from_main(score)
            row["valid_recall@20"] = score
            if score > best_score:
                best_score, best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", val_r20=f"{best_score:.4f}", best=best_epoch)
        if stale >= tc.patience and epoch >= tc.min_epochs:
            log.info("early stop at epoch %d (best %d)", epoch, best_epoch)
            stopped_by = "patience"
            break
        spent = time.perf_counter() - fit_started
        over = epoch < tc.epochs and 0 < tc.time_budget_s < spent + statistics.median(epoch_seconds)
        if ranks is not None and 0 < tc.time_budget_s:  # rank 0's clock decides for all
            over = distributed.from_main(float(over)) > 0
        if over:
            log.info(
                "time budget %.0f s reached at epoch %d (best %d)",
                tc.time_budget_s,
                epoch,
                best_epoch,
            )
            stopped_by = "time_budget"
            break
    if evaluate:
        model.load_state_dict(best_state)
    dropout_log = id_dropout.summary() if id_dropout is not None else {}
    return _Fit(history, best_epoch, epoch_seconds, stopped_by, dropout_log)


@dataclass
class _Fit:
    history: list[dict[str, float]]
    best_epoch: int
    epoch_seconds: list[float]
    stopped_by: str  # "epochs", "patience" or "time_budget"
    id_dropout: dict[str, Any] = field(default_factory=dict)  # what ID dropout did, if on


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _WarmValidator:
    """Validation Recall@20 on warm items, the early-stopping criterion."""

    def __init__(self, dataset: Dataset, split: Split, view: WarmView) -> None:
        warm_cols = view.warm_items
        self.exclude = split.matrix(dataset, Part.TRAIN)[:, warm_cols].tocsr()
        self.truth = split.matrix(dataset, Part.VALID)[:, warm_cols].tocsr()

    def recall20(self, model: RecModel) -> float:
        users, items = model.embeddings()
        metrics = rank_metrics(
            users.numpy(), items.numpy(), exclude=self.exclude, truth=self.truth, candidates=None
        )
        return float(metrics["recall@20"])
