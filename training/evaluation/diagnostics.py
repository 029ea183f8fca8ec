"""Cold-start diagnostics: a model's own path for new items next to the projector's (issue 3.4).

DiffMM's seed report has it at about 1% cold Recall@20 against 7-9% for LATTICE and MICRO and
proposes a check: the cosine between an item's direct modal projection and what the diffusion
side produces. MODELS.md section 2 explains the collapse: the denoisers output one column per
training item, so no generated edge ever reaches a new item, and a zero-degree item is left with
norm f_m(x) at self-loop weight 1 plus an untrained E_i. `cold_start_diagnostics` measures both
halves on the same split: the native path ("before") and the projector ("after").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.base import RecModel
from models.diffmm import DiffMM
from training.data.dataset import Dataset
from training.evaluation.ranking import cold_tracks
from training.fitting.warm_view import WarmView
from training.protocol.splits import Split


def cold_start_diagnostics(
    model: RecModel,
    dataset: Dataset,
    split: Split,
    view: WarmView,
    user_emb: np.ndarray,
    item_emb: np.ndarray,
) -> dict[str, Any]:
    """Cold test tracks with the model's native cold embeddings ("before") and with `item_emb`,
    the projector's ("after"), plus norm ratios and, for DiffMM, the seed's cosine diagnostic
    and the native path without its untrained E_i ("native_without_id").

    `user_emb` [n_users, d] and `item_emb` [n_items, d] are the exported run (cold rows
    projected). Warm rows are the same in both, so only the cold rows differ. Returns {} when
    the model has no native path (`native_cold_embeddings` is None) or there is no cold item.
    """
    cold = split.cold_items()  # [n_cold] dataset item index
    if len(cold) == 0 or not model.modal_dims:
        return {}
    features = {
        name: torch.from_numpy(np.ascontiguousarray(dataset.modalities[name][cold]))
        for name in model.modal_dims
    }
    native_t = model.native_cold_embeddings(features)
    if native_t is None:
        return {}
    native = native_t.detach().cpu().numpy().astype(np.float32)  # [n_cold, d]
    before = item_emb.copy()
    before[cold] = native
    is_test = np.isin(cold, split.cold_test_items)  # [n_cold]
    warm_norm = float(np.linalg.norm(item_emb[view.warm_items], axis=1).mean())
    out: dict[str, Any] = {
        "native_path": model.name,
        "n_cold_test_items": int(is_test.sum()),
        "before": cold_tracks(user_emb, before, dataset, split),
        "after": cold_tracks(user_emb, item_emb, dataset, split),
        "norm_ratio_before": _norm(native[is_test]) / max(warm_norm, 1e-12),
        "norm_ratio_after": _norm(item_emb[cold[is_test]]) / max(warm_norm, 1e-12),
        "cos_native_vs_projector": _mean_cos(native[is_test], item_emb[cold[is_test]]),
    }
    if isinstance(model, DiffMM):
        out |= _diffmm_cosines(model, features, is_test)
        # MODELS.md fix (d): the same path without the untrained E_i, i.e. how much of the
        # collapse is the noise vector rather than the uncalibrated modal part
        no_id = model.cold_item_views(features, id_embeddings=torch.zeros(len(cold), model.cfg.dim))
        without = item_emb.copy()
        without[cold] = no_id.embedding.detach().cpu().numpy()
        out["native_without_id"] = cold_tracks(user_emb, without, dataset, split)
    return out


def _diffmm_cosines(model: DiffMM, features: dict[str, Tensor], is_test: np.ndarray) -> Any:
    """The seed's check, cos(direct modal projection, diffusion side), on cold test items and on
    the warm items for reference, and how far each lands from the item vector that is scored."""
    cold = model.cold_item_views(features)
    mask = torch.from_numpy(is_test).to(cold.modal.device)
    warm = model.warm_item_views()
    return {
        "cos_modal_vs_diffusion": {
            "cold": _mean_cos(cold.modal[mask], cold.diffusion[mask]),
            "warm": _mean_cos(warm.modal, warm.diffusion),
        },
        "cos_modal_vs_embedding": {
            "cold": _mean_cos(cold.modal[mask], cold.embedding[mask]),
            "warm": _mean_cos(warm.modal, warm.embedding),
        },
    }


def _norm(x: np.ndarray) -> float:
    return float(np.linalg.norm(x, axis=1).mean()) if len(x) else 0.0


def _mean_cos(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> float:
    a_t = torch.as_tensor(a, dtype=torch.float32)
    b_t = torch.as_tensor(b, dtype=torch.float32)
    if len(a_t) == 0:
        return 0.0
    return float(F.cosine_similarity(a_t, b_t, dim=1).mean())
