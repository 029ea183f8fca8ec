"""The content floor (issue 13): never rank below plain content similarity.

For user u and item i

    score(u, i) = s_model(u, i) + w * cos(p_u, c_i)

with s_model the model's inner product, c_i the item's content vector and p_u the user's
content profile (the L2-normalised mean of their items' content vectors), exactly the content-only
baseline of training/evaluation/content_baseline.py. The sum is one inner product of augmented
rows, [e_u, sqrt(w) p_u] . [e_i, sqrt(w) c_i], so the service keeps one index of augmented item
rows and ranks by it exactly as the evaluation does: both build their rows with `item_rows` and
`user_rows` here. With `items = "cold"` only cold (projected) items carry the content part;
trained items keep the model's score alone.

The weight w is chosen on validation per run (training/evaluation/content_floor.py) and travels
in the bundle's manifest `cold_start` (`FloorConfig.manifest`), the items' content vectors in
`content.npy` (docs/BUNDLE.md). The content of an item: the `text` modality when the dataset has
one, else every modality, each L2-normalised, concatenated in name order, normalised again
(`content_vectors`); a modality an item lacks counts as zeros, as in the projector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

TEXT = "text"
ITEMS = ("all", "cold")  # which items carry the content part
# manifest cold_start keys (bundle/writer.py `cold_start=`, docs/BUNDLE.md)
KEYS = ("content_weight", "content_items", "content_source")


def content_source(modalities: Iterable[str]) -> list[str]:
    """The modalities content is read from: ["text"] when present, else all, in name order."""
    names = sorted(modalities)
    if TEXT in names:
        return [TEXT]
    if not names:
        raise ValueError("no item features: no content")
    return names


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def content_vectors(
    features: Mapping[str, np.ndarray], source: Sequence[str], dims: Mapping[str, int]
) -> np.ndarray:
    """float32 [n, dc]: the content vectors of n items from their features {name: [n, d_m]}
    (`source` modalities, each of `dims[name]` values; an absent one is zeros). An item whose
    source features are all zero keeps a zero vector: it scores 0 for everyone."""
    n = len(next(iter(features.values())))
    parts = [
        normalise(features[m]) if m in features else np.zeros((n, dims[m]), np.float32)
        for m in source
    ]
    return normalise(np.concatenate(parts, axis=1)) if len(parts) > 1 else parts[0]


def profiles(seen: sp.csr_matrix, content: np.ndarray) -> np.ndarray:
    """float32 [n_users, dc]: each user's profile, the normalised mean of the content of their
    items (`seen` binary [n_users, n_items]); a user without items gets zeros."""
    counts = np.asarray(seen.sum(axis=1)).ravel()  # [n_users]
    inv = np.divide(1.0, counts, out=np.zeros_like(counts, dtype=np.float64), where=counts > 0)
    mean = sp.diags(inv.astype(np.float32)) @ seen.astype(np.float32) @ content  # [n_users, dc]
    return normalise(np.asarray(mean, dtype=np.float32))


def profile(content: np.ndarray) -> np.ndarray:
    """float32 [dc]: one user's profile from the content rows of their items [m, dc]: the
    normalised mean (zeros for none), as `profiles` computes it for many."""
    if not len(content):
        return np.zeros(content.shape[1], np.float32)
    row: np.ndarray = normalise(content.mean(axis=0, dtype=np.float64)[None, :])[0]
    return row


def item_rows(
    emb: np.ndarray, content: np.ndarray, weight: float, floored: Any = True
) -> np.ndarray:
    """float32 [n, d + dc]: items' index rows [e_i, sqrt(w) c_i]; `floored` (bool, or a bool
    mask [n]) says which rows carry the content part (others get zeros there)."""
    part = np.sqrt(np.float32(weight)) * np.asarray(content, np.float32)  # [n, dc]
    part = part * np.asarray(floored, dtype=np.float32).reshape(-1, 1)
    return np.ascontiguousarray(np.concatenate([np.asarray(emb, np.float32), part], axis=1))


def user_rows(emb: np.ndarray, profile: np.ndarray, weight: float) -> np.ndarray:
    """float32 [n, d + dc] (or [d + dc] for one user): query rows [e_u, sqrt(w) p_u]."""
    part = np.sqrt(np.float32(weight)) * np.asarray(profile, np.float32)
    return np.ascontiguousarray(np.concatenate([np.asarray(emb, np.float32), part], axis=-1))


@dataclass(frozen=True)
class FloorConfig:
    """The floor's constants, chosen on validation: the weight w, which items carry content, and
    the modalities the content comes from."""

    weight: float
    items: str = "all"
    source: tuple[str, ...] = (TEXT,)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.weight) and self.weight >= 0) or self.items not in ITEMS:
            raise ValueError(f"content floor: weight >= 0 and items in {ITEMS}, got {self}")
        if not self.source:
            raise ValueError("content floor: no content source")

    def manifest(self) -> dict[str, Any]:
        """The bundle manifest's cold_start entries of the floor."""
        return dict(zip(KEYS, (self.weight, self.items, list(self.source)), strict=True))

    @classmethod
    def from_manifest(cls, cold_start: Mapping[str, Any]) -> FloorConfig | None:
        """The floor a bundle's cold_start asks for; None when it has none (a bundle written
        before it, or weight 0: validation turned it off)."""
        if float(cold_start.get("content_weight", 0.0)) == 0.0:
            return None
        return cls(
            weight=float(cold_start["content_weight"]),
            items=str(cold_start.get("content_items", "all")),
            source=tuple(str(m) for m in cold_start.get("content_source", [TEXT])),
        )
