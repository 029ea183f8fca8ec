"""Item content -> embedding: validation of raw features, MiniLM for raw text, the projector."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from models.content_floor import FloorConfig
from models.projection import ModalProjector, project_features
from models.simulated_edges import SimulatedEdges
from service.errors import InvalidFeatures, ModelNotReady
from service.floor import record_content
from service.store import ItemRecord

MAX_ABS_VALUE = 1e6  # larger feature values are a client bug, not content
MAX_NORM = 1e5  # L2 norm of one modality's vector; real features are ~1-50 (MiniLM: 1)
MIN_NORM = 1e-6  # below this on every modality the item has no content ("zero")
TEXT_MODALITY = "text"


class Encoder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def check_features(
    item_id: str, features: dict[str, list[float]], modal_dims: dict[str, int]
) -> dict[str, np.ndarray]:
    """Raw feature lists -> float32 arrays, checked against the bundle's modalities."""
    if not features:
        raise InvalidFeatures(f"item {item_id!r}: no features given")
    out: dict[str, np.ndarray] = {}
    for name, values in features.items():
        if name not in modal_dims:
            raise InvalidFeatures(
                f"item {item_id!r}: unknown modality {name!r}; this bundle has {sorted(modal_dims)}"
            )
        vec = np.asarray(values, dtype=np.float64)
        if vec.ndim != 1 or len(vec) != modal_dims[name]:
            raise InvalidFeatures(
                f"item {item_id!r}: modality {name!r} needs {modal_dims[name]} values, "
                f"got {len(values)}"
            )
        if not np.isfinite(vec).all():
            raise InvalidFeatures(f"item {item_id!r}: modality {name!r} has NaN or Inf values")
        if np.abs(vec).max() > MAX_ABS_VALUE:
            raise InvalidFeatures(f"item {item_id!r}: modality {name!r} has values over 1e6")
        norm = float(np.linalg.norm(vec))
        if norm > MAX_NORM:
            raise InvalidFeatures(
                f"item {item_id!r}: modality {name!r} has an L2 norm of {norm:.3g}, over 1e5"
            )
        out[name] = vec.astype(np.float32)
    if all(float(np.linalg.norm(v)) < MIN_NORM for v in out.values()):
        raise InvalidFeatures(f"item {item_id!r}: every feature is zero (L2 norm under 1e-6)")
    return out


class Featurizer:
    """Embeds item records with the bundle's projector (then its simulated-edges step, when it
    has one); raw text goes through MiniLM first."""

    def __init__(
        self,
        projector: ModalProjector | None,
        modal_dims: dict[str, int],
        encoder_factory: Callable[[], Encoder],
        encoder_dim: int | None = None,
        edges: SimulatedEdges | None = None,
        floor: FloorConfig | None = None,
    ) -> None:
        self._projector = projector
        self._edges = edges  # simulated edges after the projection (service/cold_edges.py)
        self._floor = floor  # the content floor: content after the projection (service/floor.py)
        self.modal_dims = modal_dims
        self._encoder_factory = encoder_factory
        self._encoder_dim = encoder_dim  # what the encoder gives, when known before it is made
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()

    def check_text(self, item_id: str, text: str) -> None:
        if self.modal_dims.get(TEXT_MODALITY) is None:
            raise InvalidFeatures(
                f"item {item_id!r}: raw text needs a bundle with a 'text' modality; "
                f"this one has {sorted(self.modal_dims)}"
            )
        if not text.strip():
            raise InvalidFeatures(f"item {item_id!r}: empty text")
        if self._encoder_dim is not None:  # refused without loading the encoder for it
            self._check_dim(self._encoder_dim)

    def _check_dim(self, encoder_dim: int) -> None:
        dim = self.modal_dims.get(TEXT_MODALITY)
        if dim != encoder_dim:
            raise InvalidFeatures(
                f"the bundle's text modality has {dim} dims; the text encoder gives {encoder_dim}"
            )

    def encoder(self) -> Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = self._encoder_factory()
            return self._encoder

    def embed(self, records: list[ItemRecord]) -> np.ndarray:
        """Embeddings [n, dim] of `records` (raw text is encoded into its `text` features); with
        the bundle's content floor, each row is followed by the item's content [n, dim + dc]."""
        if self._projector is None:
            raise ModelNotReady("this bundle has no projector, so it cannot embed new items")
        features = self._with_text_features(records)
        out = np.zeros((len(records), self._projector.dim), dtype=np.float32)  # [n, dim]
        groups: dict[tuple[str, ...], list[int]] = {}
        for row, feats in enumerate(features):
            groups.setdefault(tuple(sorted(feats)), []).append(row)
        # One projector call per set of modalities present; the bundle's other modalities are
        # fed as zeros (models.projection.project_features, which the evaluation shares).
        for names, rows in groups.items():
            batch = {n: np.stack([features[r][n] for r in rows]) for n in names}
            out[rows] = project_features(self._projector, batch)
        # The bundle's simulated-edges step, if it has one: what the evaluation measured.
        out = out if self._edges is None else self._edges.apply(out)
        if self._floor is None:
            return out
        return np.hstack([out, record_content(features, self._floor, self.modal_dims)])

    def _with_text_features(self, records: list[ItemRecord]) -> list[dict[str, np.ndarray]]:
        """Each record's features; raw text is encoded (the record itself keeps the text)."""
        features = [dict(r.features) for r in records]
        todo = [i for i, r in enumerate(records) if r.text is not None and not r.features]
        if not todo:
            return features
        encoder = self.encoder()
        self._check_dim(encoder.dim)
        vectors = encoder.encode([records[i].text or "" for i in todo])  # [m, 384]
        for i, vec in zip(todo, vectors, strict=True):
            features[i] = {TEXT_MODALITY: np.asarray(vec, dtype=np.float32)}
        return features
