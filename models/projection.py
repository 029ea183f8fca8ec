"""The modal projector: item content features -> the recommender's embedding space (inductive)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ProjectorConfig


class ModalProjector(nn.Module):
    """MLP over concatenated, per-modality L2-normalised features: sum(d_m) -> hidden -> dim.

    Modalities are concatenated in sorted name order. A modality missing from the input is fed as
    zeros, so an item with text only still gets an embedding from a text+image model.
    `output_scale` (a buffer, saved with the weights) calibrates output norms to the warm items'
    mean norm so that projected cold items compete fairly with trained warm items.
    """

    output_scale: Tensor  # the buffer registered below (typed for mypy; no class attribute)

    def __init__(self, modal_dims: dict[str, int], dim: int, cfg: ProjectorConfig) -> None:
        super().__init__()
        if not modal_dims:
            raise ValueError("a projector needs at least one modality")
        self.modal_dims = dict(sorted(modal_dims.items()))
        self.dim = dim
        self.cfg = cfg  # hidden and dropout, which the bundle's manifest records
        in_dim = sum(self.modal_dims.values())
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, cfg.hidden),
            nn.LayerNorm(cfg.hidden),
            nn.GELU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, dim),
        )
        self.register_buffer("output_scale", torch.ones(()))

    def concat(self, features: dict[str, Tensor]) -> Tensor:
        """Per-modality L2-normalised features, concatenated: [n, sum(d_m)]."""
        n = _batch_size(features)
        parts = []
        for name, d in self.modal_dims.items():
            x = features.get(name)
            if x is None:
                ref = next(iter(features.values()))
                parts.append(torch.zeros(n, d, dtype=torch.float32, device=ref.device))
                continue
            if x.ndim != 2 or x.shape[1] != d:
                raise ValueError(f"modality {name!r} expects shape [n, {d}], got {list(x.shape)}")
            parts.append(F.normalize(x.float(), dim=1))
        return torch.cat(parts, dim=1)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        out: Tensor = self.mlp(self.concat(features)) * self.output_scale  # [n, dim]
        return out


@torch.no_grad()
def project_features(projector: ModalProjector, features: dict[str, np.ndarray]) -> np.ndarray:
    """Content features {name: [n, d_m]} -> embeddings float32 [n, dim] (eval mode, no grad).

    The one projection of new items that the service (`service.features.Featurizer.embed`) and
    the missing-modality evaluation (`training.evaluation.missing_modalities`) share: `features`
    holds only the modalities an item came with, and `ModalProjector.concat` feeds every other
    bundle modality as zeros.
    """
    was_training = projector.training
    projector.eval()
    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(x, np.float32)) for name, x in features.items()
    }
    out = projector(tensors)  # [n, dim]
    projector.train(was_training)
    return np.ascontiguousarray(out.numpy(), dtype=np.float32)


def _batch_size(features: dict[str, Tensor]) -> int:
    if not features:
        raise ValueError("no features given")
    sizes = {int(x.shape[0]) for x in features.values()}
    if len(sizes) != 1:
        raise ValueError(f"modalities disagree on the number of items: {sorted(sizes)}")
    return sizes.pop()
