"""Simulated edges at registration (issue 13): the step a bundle's `cold_start` asks for, over
the bundle's trained items and users. The step itself is `models.simulated_edges`, the function
the offline evaluation measured (training/evaluation/simulated_edges.py); a bundle without its
constants (written before them, or validation turned it off) serves the projection alone."""

from __future__ import annotations

import numpy as np

from bundle.reader import Bundle
from models.simulated_edges import EdgesConfig, SimulatedEdges
from service.errors import BundleError


def edges_for(bundle: Bundle) -> SimulatedEdges | None:
    """The step of `bundle` (None: none). Its reference is what the evaluation's was: the
    trained items (not the projected ones, nor items registered since, so an item's embedding
    does not depend on what came before it) and the users with a training item."""
    try:
        cfg = EdgesConfig.from_manifest(bundle.manifest.cold_start)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"manifest.json cold_start: {exc}") from exc
    if cfg is None or bundle.projector is None:
        return None
    rows = np.arange(bundle.manifest.n_items, dtype=np.int64)
    warm = np.setdiff1d(rows, bundle.projected, assume_unique=True)
    trained_users = np.flatnonzero(np.diff(bundle.seen_indptr) > 0)
    try:
        return SimulatedEdges.build(
            cfg, bundle.users, bundle.items, warm, trained_users, bundle.item_projections
        )
    except ValueError as exc:
        raise BundleError(f"manifest.json cold_start: {exc}") from exc
