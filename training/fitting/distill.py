"""Distillation from the trained (warm) model into the projector: ALDI's three alignments.

ALDI (Huang et al., SIGIR'23, "Aligning Distillation For Warm-up Item Recommendation"; github
zfnWong/ALDI) treats the trained item embeddings as the teacher and the content model as the
student, and aligns the student's scores to the teacher's beyond regressing embeddings:

- rating distribution: |t(u, i) - s(u, i)| on the sampled positive and negative items, so
  projected items score on the teacher's scale;
- ranking: the student's margin s(u, i+) - s(u, i-) is trained towards the teacher's
  preference probability sigmoid(t(u, i+) - t(u, i-)) (binary cross-entropy), a soft label that
  tells which pairs the teacher is sure of;
- identification: an item's inner product with itself minus its mean with the batch's other
  (negative) items, student towards sigmoid of the teacher's, so projected items stay as
  distinguishable from each other as trained ones.

The ranking and identification terms may be weighted per positive item by tanh(a * its number
of training interactions) (ALDI's popularity weighting: a popular item's teacher embedding is
the more trustworthy); a = 0 weighs all equally. Unlike ALDI, users are the trained ones, not
mapped: cold and warm items are served to the same user vectors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from training.config import ColdTrainingConfig


def wants_distillation(cfg: ColdTrainingConfig) -> bool:
    """Whether any of the three alignment terms has a weight."""
    return (cfg.distill_rating, cfg.distill_ranking, cfg.distill_identification) != (0, 0, 0)


def aldi_terms(
    users: Tensor,
    teacher_pos: Tensor,
    teacher_neg: Tensor,
    student_pos: Tensor,
    student_neg: Tensor,
    cfg: ColdTrainingConfig,
    pos_weight: Tensor | None = None,
) -> dict[str, Tensor]:
    """The weighted alignment terms with a non-zero weight, named `distill_<term>`.

    users [B, d] (fixed); teacher_* [B, d] the trained embeddings of the triples' positive and
    negative items; student_* [B, d] their projections; pos_weight [B] per-triple weights of
    the ranking and identification terms (None: 1).
    """
    weight = torch.ones(len(users)) if pos_weight is None else pos_weight  # [B]
    t_pos, t_neg = (users * teacher_pos).sum(1), (users * teacher_neg).sum(1)  # [B]
    s_pos, s_neg = (users * student_pos).sum(1), (users * student_neg).sum(1)
    terms: dict[str, Tensor] = {}
    if cfg.distill_rating:
        rating = ((t_pos - s_pos).abs() + (t_neg - s_neg).abs()).mean()
        terms["distill_rating"] = cfg.distill_rating * rating
    if cfg.distill_ranking:
        ranking = _soft_bce(s_pos - s_neg, t_pos - t_neg, weight)
        terms["distill_ranking"] = cfg.distill_ranking * ranking
    if cfg.distill_identification:
        t_id = _identification(teacher_pos, teacher_neg)
        s_id = _identification(student_pos, student_neg)
        terms["distill_identification"] = cfg.distill_identification * _soft_bce(s_id, t_id, weight)
    return terms


def popularity_weight(counts: Tensor, a: float) -> Tensor | None:
    """tanh(a * interactions) per item, or None (equal weights) at a = 0."""
    return torch.tanh(a * counts.float()) if a > 0 else None


def _identification(pos: Tensor, neg: Tensor) -> Tensor:
    """<i, i> - mean_j <i, j> over the batch's negatives j: [B]."""
    return (pos * pos).sum(1) - (pos @ neg.T).mean(1)


def _soft_bce(student_logit: Tensor, teacher_logit: Tensor, weight: Tensor) -> Tensor:
    """Weighted mean binary cross-entropy of the student's logits against the teacher's
    probabilities (the teacher's side carries no gradient)."""
    target = torch.sigmoid(teacher_logit.detach())
    loss = F.binary_cross_entropy_with_logits(student_logit, target, reduction="none")  # [B]
    return (weight * loss).mean()
