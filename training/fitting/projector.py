"""Fit the modal projector against a trained backbone (MODELS.md section 2B): BPR through the
projector with frozen users plus alignment to the trained item embeddings, selected on cold
validation items, then norm-calibrated so cold items compete fairly with warm ones."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from models.projection import ModalProjector
from training.config import TrainConfig
from training.data.dataset import Dataset
from training.evaluation.ranking import cold_track, rank_metrics
from training.fitting.cold_training import drop_modalities
from training.fitting.distill import aldi_terms, popularity_weight, wants_distillation
from training.fitting.warm_view import WarmView
from training.protocol.sampling import BprSampler
from training.protocol.splits import Part, Split


class HasProjector(Protocol):
    """What the projector's fit needs of a model: its projector (a `RecModel`, or a stand-in
    holding one, as `training.fitting.refit_projector` fits on a finished run's embeddings)."""

    @property
    def projector(self) -> ModalProjector | None: ...


@dataclass
class ProjectorFit:
    best_epoch: int = 0
    epochs_run: int = 0
    valid_cold_only_recall20: float | None = None
    output_scale: float = 1.0
    warm_alignment_cos: float | None = None  # mean cos(projected warm item, trained embedding)
    scale_multiplier: float = 1.0  # chosen on validation (exposure = demand), on the norm match
    valid_cold_demand_share: float | None = None  # cold share of validation interactions
    valid_cold_exposure_share: float | None = None  # cold share of validation top-20 lists
    # per epoch, each loss term's mean over the epoch's steps (metrics.json's cold_training
    # section, where an option of it is on; not in `summary`)
    terms_history: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            k: (round(v, 5) if isinstance(v, float) else v)
            for k, v in self.__dict__.items()
            if k != "terms_history"
        }


def _features(dataset: Dataset, items: np.ndarray) -> dict[str, Tensor]:
    return {name: torch.from_numpy(f[items]) for name, f in dataset.modalities.items()}


@torch.no_grad()
def _project(projector: ModalProjector, dataset: Dataset, items: np.ndarray) -> Tensor:
    was_training = projector.training
    projector.eval()
    out = torch.cat(
        [
            projector(_features(dataset, chunk))
            for chunk in np.array_split(items, len(items) // 8192 + 1)
        ]
    )
    projector.train(was_training)
    return out  # [len(items), d]


def calibrate(projector: ModalProjector, dataset: Dataset, view: WarmView, warm_t: Tensor) -> None:
    """Scale outputs so projected warm items have the trained warm items' mean norm."""
    projector.output_scale.fill_(1.0)
    projected = _project(projector, dataset, view.warm_items)
    scale = warm_t.norm(dim=1).mean() / projected.norm(dim=1).mean().clamp_min(1e-12)
    projector.output_scale.fill_(float(scale))


def embed_all_items(
    model: HasProjector, dataset: Dataset, view: WarmView, warm_t: Tensor
) -> np.ndarray:
    """[n_items, d]: trained rows for warm items, projector output for every cold item."""
    out = np.zeros((dataset.n_items, warm_t.shape[1]), dtype=np.float32)
    out[view.warm_items] = warm_t.numpy()
    cold = np.flatnonzero(view.row_of_item < 0)
    if len(cold) and model.projector is not None:
        out[cold] = _project(model.projector, dataset, cold).numpy()
    return out


def fit_projector(
    model: HasProjector,
    dataset: Dataset,
    split: Split,
    view: WarmView,
    user_t: Tensor,
    warm_t: Tensor,
    tc: TrainConfig,
    progress: bool,
) -> ProjectorFit:
    """Train `model.projector` in place; keeps the epoch with the best cold validation Recall@20."""
    projector = model.projector
    if projector is None:
        return ProjectorFit()
    projector.train()
    optimizer = torch.optim.Adam(projector.parameters(), lr=tc.projector_lr)
    sampler = BprSampler(
        view.train_users,
        view.train_rows,
        len(view.warm_items),
        tc.projector_batch_size,
        tc.seed + 1,
    )
    warm_features = _features(dataset, view.warm_items)
    # An epoch here is as many sampled interactions as there are warm items, not every
    # interaction: the projector sees each item about once per epoch at a fraction of the cost.
    steps_per_epoch = max(1, -(-len(view.warm_items) // tc.projector_batch_size))
    validator = _ColdValidator(dataset, split) if len(split.cold_valid_items) else None
    user_np = user_t.numpy()
    cold = tc.cold_training
    distill = wants_distillation(cold)
    counts = torch.from_numpy(np.bincount(view.train_rows, minlength=len(view.warm_items)))
    item_weight = popularity_weight(counts, cold.distill_popularity)  # [n_warm] or None
    fit = ProjectorFit()
    best_state = copy.deepcopy(projector.state_dict())
    best, stale = -1.0, 0
    bar = tqdm(range(1, tc.projector_epochs + 1), desc="fit projector", disable=not progress)
    for epoch in bar:
        projector.output_scale.fill_(1.0)
        projector.train()
        totals: dict[str, float] = {}
        for users, pos, neg in itertools.islice(sampler.epoch(), steps_per_epoch):
            rows = np.concatenate([pos, neg])
            inputs = drop_modalities(
                {k: v[rows] for k, v in warm_features.items()}, cold.modality_dropout
            )
            projected = projector(inputs)  # [2B, d]
            g_pos, g_neg = projected[: len(pos)], projected[len(pos) :]
            u = user_t[users]
            bpr = F.softplus(-((u * g_pos).sum(1) - (u * g_neg).sum(1))).mean()
            align = (1 - F.cosine_similarity(g_pos, warm_t[pos], dim=1)).mean()
            loss = bpr + tc.projector_align_weight * align
            terms = {"bpr": bpr, "align": align}
            if distill:
                weight = None if item_weight is None else item_weight[pos]
                extra = aldi_terms(u, warm_t[pos], warm_t[neg], g_pos, g_neg, cold, weight)
                for term in extra.values():
                    loss = loss + term
                terms.update(extra)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach())
        fit.terms_history.append({k: v / steps_per_epoch for k, v in totals.items()})
        fit.epochs_run = epoch
        calibrate(projector, dataset, view, warm_t)
        if validator is None:
            best_state, fit.best_epoch = copy.deepcopy(projector.state_dict()), epoch
            continue
        item_emb = embed_all_items(model, dataset, view, warm_t)
        score = validator.recall20(user_np, item_emb)
        bar.set_postfix(cold_val_r20=f"{score:.4f}")
        if score >= best:  # at a tie the longer-trained projector
            best, stale, fit.best_epoch = score, 0, epoch
            best_state = copy.deepcopy(projector.state_dict())
        else:
            stale += 1
            if stale >= tc.projector_patience:
                break
    projector.load_state_dict(best_state)
    projector.eval()
    fit.valid_cold_only_recall20 = best if validator is not None else None
    if validator is not None:
        (
            fit.scale_multiplier,
            fit.valid_cold_demand_share,
            fit.valid_cold_exposure_share,
        ) = _select_scale(model, dataset, split, view, user_np, warm_t)
    fit.output_scale = float(projector.output_scale)
    projected = _project(projector, dataset, view.warm_items)
    fit.warm_alignment_cos = float(F.cosine_similarity(projected, warm_t, dim=1).mean())
    return fit


class _ColdValidator:
    """Cold validation Recall@20 among the cold validation items: how well the projector ranks
    new items against each other, independent of how loud they are next to warm items (that
    is chosen afterwards, by `_select_scale`).

    Truth, masked items and pool are the validation cold_only track's (`cold_track`); the users
    are every user with a cold validation interaction, including any without a training one
    (whom the track leaves out), as the projector's epoch has always been chosen.
    """

    def __init__(self, dataset: Dataset, split: Split) -> None:
        track = cold_track(dataset, split, "valid")
        self.exclude = track.exclude
        self.truth = track.truth
        self.users = np.unique(dataset.users[split.part == Part.COLD_VALID])
        self.pool = track.pools()["cold_only"]

    def recall20(self, user_emb: np.ndarray, item_emb: np.ndarray) -> float:
        metrics = rank_metrics(
            user_emb[self.users],
            item_emb,
            exclude=self.exclude[self.users],
            truth=self.truth[self.users],
            candidates=self.pool,
        )
        return float(metrics["recall@20"])


def _select_scale(
    model: HasProjector,
    dataset: Dataset,
    split: Split,
    view: WarmView,
    user_emb: np.ndarray,
    warm_t: Tensor,
    k: int = 20,
    max_users: int = 4096,
) -> tuple[float, float, float]:
    """How loud cold items speak next to warm ones: match exposure to demand, on validation.

    Matching mean norms is not enough: a warm item's score also carries what the graph learned
    from its neighbours, which content cannot reproduce, so projected items land too low in a
    mixed list; tuning loudness for mixed Recall buries them whenever the projector is weaker
    than the graph. Fair competition is defined instead as: the share of cold items in the
    validation users' top-k (among warm and cold validation items) equals the share of cold
    items in those users' validation interactions. The multiplier is found by bisection (the
    share grows with it). Returns (multiplier, demand share, exposure share reached).
    """
    assert model.projector is not None
    valid = np.isin(split.part, (Part.VALID, Part.COLD_VALID))
    users = np.unique(dataset.users[valid])
    rng = np.random.default_rng(split.seed)
    if len(users) > max_users:
        users = np.sort(rng.choice(users, max_users, replace=False))
    in_users = np.isin(dataset.users, users)
    demand = float((split.part[in_users] == Part.COLD_VALID).sum() / (valid & in_users).sum())

    pool = np.concatenate([view.warm_items, split.cold_valid_items])
    is_cold = torch.zeros(len(pool), dtype=torch.bool)
    is_cold[len(view.warm_items) :] = True
    items = torch.from_numpy(embed_all_items(model, dataset, view, warm_t)[pool])
    exclude = split.matrix(dataset, Part.TRAIN)[users][:, pool].tocsr()
    queries = torch.from_numpy(user_emb[users])
    base_scores = queries @ items.T  # [n_users, n_pool]; at most max_users rows
    rows, cols = exclude.nonzero()
    base_scores[torch.from_numpy(rows), torch.from_numpy(cols)] = -torch.inf

    def exposure(multiplier: float) -> float:
        scores = base_scores.clone()
        scores[:, is_cold] *= multiplier
        top = scores.topk(min(k, len(pool)), dim=1).indices
        return float(is_cold[top].float().mean())

    low, high = -5.0, 5.0  # log2 of the multiplier
    for _ in range(20):
        mid = (low + high) / 2
        if exposure(2.0**mid) < demand:
            low = mid
        else:
            high = mid
    multiplier = 2.0 ** ((low + high) / 2)
    model.projector.output_scale.mul_(multiplier)
    return multiplier, demand, exposure(multiplier)
