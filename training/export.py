"""Write a run: the bundle of docs/BUNDLE.md (format version 1), the split, metrics and config."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import scipy.sparse as sp
from safetensors.torch import save_file

from bundle.format import (
    FORMAT_VERSION,
    ITEM_IDS_FILE,
    ITEMS_FILE,
    MANIFEST_FILE,
    PROJECTOR_FILE,
    SEEN_FILE,
    USER_IDS_FILE,
    USERS_FILE,
    sha256_file,
)
from training.config import RunConfig, to_dict
from training.data.dataset import Dataset
from training.fitting.trainer import TrainResult


def write_run(
    run_dir: Path, dataset: Dataset, result: TrainResult, cfg: RunConfig, data: str
) -> Path:
    """Write RUN_DIR/{bundle/, split.npz, metrics.json, config.json}; returns the bundle path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    result.split.save(str(run_dir / "split.npz"))
    # Every item's embedding (cold rows projected), so runs can be combined and re-evaluated.
    np.savez(run_dir / "embeddings.npz", users=result.user_emb, items=result.item_emb)
    _write_json(run_dir / "metrics.json", result.metrics)
    config = {"data": data, "modal_dims": dataset.modal_dims, **to_dict(cfg)}
    _write_json(run_dir / "config.json", config)
    return export_bundle(run_dir / "bundle", dataset, result, cfg)


def export_bundle(bundle_dir: Path, dataset: Dataset, result: TrainResult, cfg: RunConfig) -> Path:
    """The self-contained serving artifact: embeddings, ids, seen items, projector, FAISS index."""
    bundle_dir.mkdir(parents=True, exist_ok=True)
    view = result.view
    users = np.ascontiguousarray(result.user_emb, dtype=np.float32)
    items = np.ascontiguousarray(result.item_emb[view.warm_items], dtype=np.float32)
    np.save(bundle_dir / USERS_FILE, users)
    np.save(bundle_dir / ITEMS_FILE, items)
    _write_json(bundle_dir / USER_IDS_FILE, dataset.user_ids.ids)
    _write_json(bundle_dir / ITEM_IDS_FILE, dataset.item_ids.externals(view.warm_items))

    seen = sp.csr_matrix(
        (np.ones(len(view.train_users), dtype=np.float32), (view.train_users, view.train_rows)),
        shape=(dataset.n_users, len(view.warm_items)),
    )
    seen.sum_duplicates()
    seen.sort_indices()
    np.savez_compressed(
        bundle_dir / SEEN_FILE,
        indptr=seen.indptr.astype(np.int64),
        indices=seen.indices.astype(np.int64),
    )
    if result.model.projector is not None:
        state = {k: v.detach().contiguous() for k, v in result.model.projector.state_dict().items()}
        save_file(state, str(bundle_dir / PROJECTOR_FILE))

    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    faiss.write_index(index, str(bundle_dir / "index.faiss"))  # until export uses bundle.writer

    files = {
        p.name: sha256_file(p) for p in sorted(bundle_dir.iterdir()) if p.name != MANIFEST_FILE
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": result.metrics["model"],
        "dataset": dataset.name,
        "dim": int(items.shape[1]),
        "n_users": int(users.shape[0]),
        "n_items": int(items.shape[0]),
        "modalities": dataset.modal_dims,
        "projector": {"hidden": cfg.model.projector.hidden, "dropout": cfg.model.projector.dropout},
        "score": "inner_product",
        "metrics": result.metrics["test"],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "files": files,
    }
    _write_json(bundle_dir / MANIFEST_FILE, manifest)
    return bundle_dir


def code_version() -> str:
    """The package version plus the git commit when run from a checkout."""
    try:
        base = version("coldrec")
    except PackageNotFoundError:
        base = "0+unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return base
    return f"{base}+g{commit}" if commit else base


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
