"""A finished run read back for the post-hoc evaluations (missing modalities, content floor,
simulated edges): its split, its saved embeddings and the projector its bundle holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.projection import ModalProjector
from training.protocol.splits import Split


def load_saved_run(run_dir: Path) -> tuple[Split, np.ndarray, np.ndarray]:
    """(split, users [n_users, d], items [n_items, d]) of RUN_DIR, embeddings as float32."""
    split = Split.load(str(run_dir / "split.npz"))
    with np.load(run_dir / "embeddings.npz", allow_pickle=False) as z:
        users, items = z["users"].astype(np.float32), z["items"].astype(np.float32)
    return split, users, items


def saved_projector(run_dir: Path) -> ModalProjector:
    """The projector RUN_DIR's bundle holds; ValueError when it has none."""
    from bundle.reader import load_bundle

    projector = load_bundle(run_dir).projector
    if projector is None:
        raise ValueError(f"{run_dir}: the bundle has no projector")
    return projector
