"""Simulated edges for new items (issue 13): a projected item gets edges to its top-K trained
neighbours and one propagation step over them, so it is scored like a warm node.

The idea of CGRC (SIGIR'24, "Content-based Graph Reconstruction for Cold-start Item
Recommendation") and of ColdLLM's interaction simulation (arXiv 2402.09176), without their
trained edge predictors: the projection p itself predicts the edges. For a new item

    neighbours  N = top-K of the reference by a match score s_j, one of three sources:
                    "items":   the trained items, s_j = p . v_j (projected score)
                    "users":   the users with a training item, s_j = p . e_u
                    "content": the trained items, s_j = cos(p, p_j) with p_j the item's own
                               projection from its features (content seen through the projector)
    mean        m = sum_j w_j r_j over the neighbours' trained rows r_j (v_j, or e_u for users),
                    w_j = max(s_j, 0) / sum max(., 0)  (uniform if every s_j <= 0)
    step        e = (1 - alpha) p + alpha m'

where m' is m rescaled to p's norm and e brought back to p's norm (norm "projection": the item
keeps the loudness the projector was calibrated to and only turns toward its neighbours), or m
rescaled to the trained items' mean norm and e left as it is (norm "warm": with alpha 1 the item
is a trained item's length). The reference holds trained rows only, never other new items, so
an item's embedding does not depend on which items were registered before it.

One function for both sides: the offline evaluation (training/evaluation/simulated_edges.py)
and the service's registration (service/features.py through service/cold_edges.py) call
`SimulatedEdges.apply`, which is what the evaluation measured. Cost per new item: one
[d] x [d, n_ref] product and a top-K, in chunks of `CHUNK` items (never items x items).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

SOURCES = ("items", "users", "content")
NORMS = ("projection", "warm")
CHUNK = 1024  # new items scored against the reference at once: 1024 x 22k users = 90 MB
# manifest cold_start keys (bundle/writer.py `cold_start=`, docs/BUNDLE.md)
KEYS = ("edges_k", "edges_alpha", "edges_source", "edges_norm")
EPS = 1e-12


@dataclass(frozen=True)
class EdgesConfig:
    """The constants of the step, chosen on validation: K neighbours, weight alpha of the
    neighbours' mean, where neighbours come from, and which norm the result keeps."""

    k: int
    alpha: float
    source: str = "items"
    norm: str = "projection"

    def __post_init__(self) -> None:
        if self.k < 1 or not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"simulated edges need k >= 1 and 0 <= alpha <= 1, got {self}")
        if self.source not in SOURCES or self.norm not in NORMS:
            raise ValueError(f"simulated edges: source in {SOURCES}, norm in {NORMS}: {self}")

    def manifest(self) -> dict[str, Any]:
        """The bundle manifest's cold_start entries of this step."""
        return dict(zip(KEYS, (self.k, self.alpha, self.source, self.norm), strict=True))

    @classmethod
    def from_manifest(cls, cold_start: Mapping[str, Any]) -> EdgesConfig | None:
        """The step a bundle's cold_start asks for; None when it has none (a bundle written
        before it, or alpha 0: validation turned it off)."""
        if "edges_k" not in cold_start or float(cold_start.get("edges_alpha", 0.0)) == 0.0:
            return None
        return cls(
            k=int(cold_start["edges_k"]),
            alpha=float(cold_start["edges_alpha"]),
            source=str(cold_start.get("edges_source", "items")),
            norm=str(cold_start.get("edges_norm", "projection")),
        )


@dataclass(frozen=True)
class Reference:
    """What new items connect to: `keys` matched against a new item's projection, `rows` what
    each neighbour brings (its trained embedding), and the trained items' mean norm (the length
    norm "warm" gives the neighbours' mean)."""

    keys: np.ndarray  # [n_ref, d] float32 (unit rows when `cosine`)
    rows: np.ndarray  # [n_ref, d] float32
    warm_norm: float
    cosine: bool = False  # match by cos(p, key) (source "content") rather than p . key

    @classmethod
    def build(
        cls,
        source: str,
        users: np.ndarray,
        items: np.ndarray,
        warm_items: np.ndarray,
        trained_users: np.ndarray,
        projections: np.ndarray | None = None,
    ) -> Reference:
        """`users` [n_users, d] and `items` [n_items, d] embeddings; `warm_items` the rows of
        `items` that trained (not projected), `trained_users` the rows of `users` with at least
        one training interaction (the others were never updated); `projections` [n_items, d]
        every item's projection from its own features (source "content" only)."""
        warm = np.ascontiguousarray(items[warm_items], dtype=np.float32)  # [n_warm, d]
        if not len(warm):
            raise ValueError("simulated edges need trained items")
        warm_norm = float(np.linalg.norm(warm, axis=1).mean())
        if source == "items":
            return cls(warm, warm, warm_norm)
        if source == "users":
            rows = np.ascontiguousarray(users[trained_users], dtype=np.float32)  # [n_trained, d]
            return cls(rows, rows, warm_norm)
        if source == "content":
            if projections is None or len(projections) != len(items):
                raise ValueError("source content needs every item's projection")
            return cls(unit_rows(projections[warm_items]), warm, warm_norm, cosine=True)
        raise ValueError(f"unknown source {source!r}; one of {SOURCES}")

    def neighbours(self, projected: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(match scores [n, k'], reference rows [n, k']) of the projections' top-k'."""
        query = unit_rows(projected) if self.cosine else projected
        return top_neighbours(query, self.keys, k)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return np.ascontiguousarray(out)


def top_neighbours(
    projected: np.ndarray, reference: np.ndarray, k: int, chunk: int = CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """(scores float32 [n, k'], rows int64 [n, k']) of each query row's top-k' reference rows by
    inner product, best first; k' = min(k, n_ref)."""
    p = torch.from_numpy(np.array(projected, dtype=np.float32, order="C"))  # [n, d], a copy
    r = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))  # [n_ref, d]
    kk = min(k, r.shape[0])
    scores = np.zeros((p.shape[0], kk), dtype=np.float32)
    rows = np.zeros((p.shape[0], kk), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, p.shape[0], chunk):
            top = torch.topk(p[start : start + chunk] @ r.T, kk, dim=1)  # [b, kk]
            scores[start : start + chunk] = top.values.numpy()
            rows[start : start + chunk] = top.indices.numpy()
    return scores, rows


def propagate(
    projected: np.ndarray,
    reference: Reference,
    scores: np.ndarray,
    rows: np.ndarray,
    alpha: float,
    norm: str,
) -> np.ndarray:
    """One step from the projections [n, d] over their neighbours (`top_neighbours`): float32
    [n, d]. Alpha 0 returns the projections unchanged."""
    p = np.asarray(projected, dtype=np.float32)
    if alpha == 0.0 or not len(p):
        return p.copy()
    w = np.maximum(scores, 0.0).astype(np.float64)  # [n, k]
    total = w.sum(axis=1, keepdims=True)
    w = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / w.shape[1])
    mean = neighbour_mean(reference.rows, rows, w.astype(np.float32)).astype(np.float64)
    p_norm = np.linalg.norm(p, axis=1, keepdims=True).astype(np.float64)  # [n, 1]
    m_norm = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), EPS)
    if norm == "projection":
        e = (1 - alpha) * p + alpha * mean * (p_norm / m_norm)
        e *= p_norm / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), EPS)
    elif norm == "warm":
        e = (1 - alpha) * p + alpha * mean * (reference.warm_norm / m_norm)
    else:
        raise ValueError(f"unknown norm {norm!r}; one of {NORMS}")
    return np.ascontiguousarray(e, dtype=np.float32)


def neighbour_mean(
    reference: np.ndarray, rows: np.ndarray, weights: np.ndarray, chunk: int = CHUNK
) -> np.ndarray:
    """float32 [n, d]: sum_j weights[:, j] * reference[rows[:, j]], gathered `chunk` rows at a
    time ([chunk, k, d] floats at most: 1024 x 50 x 384 = 79 MB)."""
    ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))  # [n_ref, d]
    out = np.zeros((len(rows), ref.shape[1]), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(rows), chunk):
            idx = torch.from_numpy(np.ascontiguousarray(rows[start : start + chunk]))  # [b, k]
            w = torch.from_numpy(np.ascontiguousarray(weights[start : start + chunk]))  # [b, k]
            out[start : start + chunk] = torch.bmm(w[:, None, :], ref[idx])[:, 0].numpy()
    return out


class SimulatedEdges:
    """The step with its constants and reference: `apply` maps projections to served vectors."""

    def __init__(self, cfg: EdgesConfig, reference: Reference) -> None:
        self.cfg = cfg
        self.reference = reference

    @classmethod
    def build(
        cls,
        cfg: EdgesConfig,
        users: np.ndarray,
        items: np.ndarray,
        warm_items: np.ndarray,
        trained_users: np.ndarray,
        projections: np.ndarray | None = None,
    ) -> SimulatedEdges:
        """The step over a model's embeddings (arguments as `Reference.build`)."""
        ref = Reference.build(cfg.source, users, items, warm_items, trained_users, projections)
        return cls(cfg, ref)

    def apply(self, projected: np.ndarray) -> np.ndarray:
        """Projections [n, d] -> the vectors to score [n, d] float32."""
        out = np.zeros(np.shape(projected), dtype=np.float32)
        for start in range(0, len(out), CHUNK):  # bounded memory for any batch
            part = projected[start : start + CHUNK]
            scores, rows = self.reference.neighbours(part, self.cfg.k)
            out[start : start + CHUNK] = propagate(
                part, self.reference, scores, rows, self.cfg.alpha, self.cfg.norm
            )
        return out
