"""The one writer of a bundle (docs/BUNDLE.md): plain arrays and values in, every file written and
hashed, manifest.json last. Used by training's export, the tests and the benchmarks alike; it
imports nothing of training."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import save_file

from bundle.format import (
    CONTENT_FILE,
    FORMAT_VERSION,
    ITEM_IDS_FILE,
    ITEM_PROJECTIONS_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    PROJECTED_FILE,
    PROJECTED_VERSION,
    PROJECTOR_FILE,
    SEEN_FILE,
    USER_IDS_FILE,
    USERS_FILE,
    sha256_file,
)
from models.config import ProjectorConfig
from models.content_floor import FloorConfig
from models.projection import ModalProjector
from models.simulated_edges import EdgesConfig

# A projector given as its weights: (state dict, the config it was built with).
ProjectorState: TypeAlias = tuple[Mapping[str, torch.Tensor], ProjectorConfig]
# The seen matrix: a CSR [n_users, n_items], or its (indptr, indices).
Seen: TypeAlias = sp.csr_matrix | sp.csr_array | tuple[np.ndarray, np.ndarray]


def write_bundle(
    out_dir: Path,
    *,
    users: np.ndarray,
    items: np.ndarray,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    seen: Seen,
    projector: ModalProjector | ProjectorState | None,
    model: str,
    dataset: str,
    modal_dims: Mapping[str, int],
    metrics: Mapping[str, Any] | None = None,
    code_version: str = "",
    created_at: str | None = None,
    projected: Sequence[int] | np.ndarray | None = None,
    cold_start: Mapping[str, Any] | None = None,
    content: np.ndarray | None = None,
    item_projections: np.ndarray | None = None,
) -> Path:
    """Write the bundle of `users` [n_users, d] and `items` [n_items, d] (float32, row = internal
    index of `user_ids` / `item_ids`), each user's training items `seen`, and the projector of
    `modal_dims` (required when there are modalities); returns `out_dir`. `projected`: the item
    rows the projector embedded from features (served as cold); when there are any, they go to
    projected.npy and the bundle is format 3, else it is format 2. Raises ValueError on inputs
    the reader would refuse. `cold_start`: the constants the service's cold-start steps use,
    chosen on validation at training time (manifest `cold_start`; docs/BUNDLE.md). `content`:
    float32 [n_items, dc], the items' content vectors the content floor scores (content.npy;
    required when `cold_start` turns the floor on). `item_projections`: float32 [n_items, dim],
    each item's projection from its own features (item_projections.npy; required when
    `cold_start` asks for simulated edges of source content)."""
    users = _matrix("users", users)
    items = _matrix("items", items)
    if users.shape[1] != items.shape[1]:
        raise ValueError(f"users have dim {users.shape[1]}, items {items.shape[1]}")
    _check_ids("user_ids", user_ids, len(users))
    _check_ids("item_ids", item_ids, len(items))
    indptr, indices = _seen_csr(seen, len(users), len(items))
    dims = {str(k): int(v) for k, v in sorted(modal_dims.items())}
    state, cfg = _projector_state(projector, dims, items.shape[1])
    rows = _projected_rows(projected, len(items))
    if len(rows) and state is None:
        raise ValueError("projected items need the projector that embedded them")
    content = _content(content, len(items), cold_start or {})
    keys = _item_projections(item_projections, items.shape, cold_start or {})

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / USERS_FILE, users)
    np.save(out_dir / ITEMS_FILE, items)
    _write_json(out_dir / USER_IDS_FILE, list(user_ids))
    _write_json(out_dir / ITEM_IDS_FILE, list(item_ids))
    np.savez_compressed(out_dir / SEEN_FILE, indptr=indptr, indices=indices)
    written = [USERS_FILE, ITEMS_FILE, USER_IDS_FILE, ITEM_IDS_FILE, SEEN_FILE]
    if state is not None:
        save_file(state, str(out_dir / PROJECTOR_FILE))
        written.append(PROJECTOR_FILE)
    if len(rows):
        np.save(out_dir / PROJECTED_FILE, rows)
        written.append(PROJECTED_FILE)
    if content is not None:
        np.save(out_dir / CONTENT_FILE, content)
        written.append(CONTENT_FILE)
    if keys is not None:
        np.save(out_dir / ITEM_PROJECTIONS_FILE, keys)
        written.append(ITEM_PROJECTIONS_FILE)
    cfg = cfg or ProjectorConfig()
    manifest = {
        "format_version": PROJECTED_VERSION if len(rows) else FORMAT_VERSION,
        "model": model,
        "dataset": dataset,
        "dim": int(items.shape[1]),
        "n_users": int(users.shape[0]),
        "n_items": int(items.shape[0]),
        "modalities": dims,
        "projector": {"hidden": int(cfg.hidden), "dropout": float(cfg.dropout)},
        "score": "inner_product",
        "metrics": dict(metrics or {}),
        "cold_start": dict(cold_start or {}),
        "created_at": created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version,
        "files": {name: sha256_file(out_dir / name) for name in written},
    }
    _write_json(out_dir / MANIFEST_FILE, manifest)
    return out_dir


def _matrix(name: str, x: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be [n, dim] with dim >= 1, got shape {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds non-finite values")
    return arr


def _content(
    content: np.ndarray | None, n_items: int, cold_start: Mapping[str, Any]
) -> np.ndarray | None:
    """The content vectors, checked: a row per item, finite; present when the floor is on."""
    floor = FloorConfig.from_manifest(cold_start)
    if content is None:
        if floor is not None:
            raise ValueError("cold_start turns the content floor on: it needs `content`")
        return None
    arr = _matrix("content", content)
    if len(arr) != n_items:
        raise ValueError(f"content has {len(arr)} rows for {n_items} items")
    return arr


def _item_projections(
    projections: np.ndarray | None, shape: tuple[int, ...], cold_start: Mapping[str, Any]
) -> np.ndarray | None:
    """Every item's projection, checked against the items' shape; present when the simulated
    edges' source is content (models/simulated_edges.py)."""
    edges = EdgesConfig.from_manifest(cold_start)
    if projections is None:
        if edges is not None and edges.source == "content":
            raise ValueError("cold_start asks for edges of source content: needs item_projections")
        return None
    arr = _matrix("item_projections", projections)
    if arr.shape != shape:
        raise ValueError(f"item_projections has shape {list(arr.shape)}, items {list(shape)}")
    return arr


def _check_ids(name: str, ids: Sequence[str], n: int) -> None:
    if not all(isinstance(i, str) for i in ids):
        raise ValueError(f"{name} must be strings")
    if len(ids) != n or len(set(ids)) != n:
        raise ValueError(f"{name}: {len(ids)} ids ({len(set(ids))} distinct) for {n} rows")


def _projected_rows(projected: Sequence[int] | np.ndarray | None, n_items: int) -> np.ndarray:
    """int64 [m] distinct item rows, sorted; empty for None."""
    rows = np.asarray([] if projected is None else projected, dtype=np.int64).ravel()
    if len(rows) and (rows.min() < 0 or rows.max() >= n_items):
        raise ValueError("projected: item rows outside the bundle's items")
    if len(np.unique(rows)) != len(rows):
        raise ValueError("projected: an item row is listed twice")
    return np.sort(rows)


def _seen_csr(seen: Seen, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(indptr int64 [n_users + 1], indices int64) with duplicates summed and indices sorted."""
    if isinstance(seen, tuple):
        indptr, indices = (np.asarray(a, dtype=np.int64) for a in seen)
        if indptr.shape != (n_users + 1,) or indptr[0] != 0 or indptr[-1] != len(indices):
            raise ValueError(f"seen: indptr must be [{n_users + 1}] from 0 to len(indices)")
        data = np.ones(len(indices), dtype=np.float32)
        seen = sp.csr_matrix((data, indices, indptr), shape=(n_users, n_items))
    if not sp.issparse(seen) or seen.shape != (n_users, n_items):
        raise ValueError(f"seen must be a CSR of shape {(n_users, n_items)}")
    csr = sp.csr_matrix(seen, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    if csr.nnz and (csr.indices.min() < 0 or csr.indices.max() >= n_items):
        raise ValueError("seen: item rows outside the bundle's items")
    return csr.indptr.astype(np.int64), csr.indices.astype(np.int64)


def _projector_state(
    projector: ModalProjector | ProjectorState | None, modal_dims: dict[str, int], dim: int
) -> tuple[dict[str, torch.Tensor] | None, ProjectorConfig | None]:
    """The state dict to save and its config, checked to load into the projector the reader will
    build from the manifest (modalities, dim, hidden, dropout)."""
    if projector is None:
        if modal_dims:
            raise ValueError(f"modalities {sorted(modal_dims)} need a projector")
        return None, None
    if not modal_dims:
        raise ValueError("a projector needs the modalities it projects (modal_dims)")
    raw: Mapping[str, torch.Tensor]
    if isinstance(projector, ModalProjector):
        if projector.modal_dims != modal_dims or projector.dim != dim:
            raise ValueError(
                f"the projector maps {projector.modal_dims} -> {projector.dim}, "
                f"the bundle has {modal_dims} -> {dim}"
            )
        raw, cfg = projector.state_dict(), projector.cfg
    else:
        raw, cfg = projector
    state = {k: v.detach().cpu().contiguous() for k, v in raw.items()}
    try:
        ModalProjector(modal_dims, dim, cfg).load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"the projector's weights do not fit {modal_dims} -> {dim}") from exc
    return state, cfg


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")
