"""Write a run: its bundle (docs/BUNDLE.md, through bundle.writer), the split, every item's
embedding, the metrics and the config."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bundle.writer import write_bundle
from training.config import RunConfig, to_dict
from training.data.dataset import Dataset
from training.evaluation.content_floor import bundle_content
from training.evaluation.simulated_edges import bundle_projections
from training.fitting.deploy import DeployFit
from training.fitting.trainer import TrainResult


def write_run(
    run_dir: Path,
    dataset: Dataset,
    result: TrainResult,
    cfg: RunConfig,
    data: str,
    *,
    data_options: dict[str, Any] | None = None,
    deploy: DeployFit | None = None,
) -> Path:
    """Write RUN_DIR/{bundle/, split.npz, embeddings.npz, metrics.json, config.json}; returns the
    bundle path. `data_options` (plain input's reader options) go into config.json, so the
    commands that read the run's data again read it the same way. With `deploy` (whose
    evaluation run is `result`), everything but the bundle is the evaluation run's and the
    bundle is the refit's. A bundle holds the trained items and the catalogue-only ones
    (projected); a run's held-out cold items are not in it (the service registers them as any
    new item), and the refit holds none out."""
    run_dir.mkdir(parents=True, exist_ok=True)
    result.split.save(str(run_dir / "split.npz"))
    # Every item's embedding (cold rows projected), so runs can be combined and re-evaluated.
    np.savez(run_dir / "embeddings.npz", users=result.user_emb, items=result.item_emb)
    _write_json(run_dir / "metrics.json", result.metrics)
    options = {"data_options": data_options} if data_options else {}
    config = {"data": data, **options, "modal_dims": dataset.modal_dims, **to_dict(cfg)}
    _write_json(run_dir / "config.json", config)
    if deploy is not None:  # the refit's items and vectors, the evaluation run's figures
        return export_bundle(run_dir / "bundle", dataset, deploy.refit, result.metrics["test"])
    return export_bundle(run_dir / "bundle", dataset, result)


def export_bundle(
    bundle_dir: Path,
    dataset: Dataset,
    result: TrainResult,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """The self-contained serving artifact: embeddings, ids, seen items and the projector (which
    carries its own hidden size and dropout) of the trained (warm) items and, listed as projected
    (format 3), the catalogue-only items the projector embedded (`TrainResult.bundle_items`),
    in dataset order. The manifest shows `metrics` (default: the run's test metrics)."""
    view = result.view
    rows, projected = result.bundle_items()
    position = np.full(dataset.n_items, -1, dtype=np.int64)  # dataset item -> bundle row
    position[rows] = np.arange(len(rows))
    seen = sp.csr_matrix(
        (
            np.ones(len(view.train_users), dtype=np.float32),
            (view.train_users, position[view.warm_items[view.train_rows]]),
        ),
        shape=(dataset.n_users, len(rows)),
    )
    return write_bundle(
        bundle_dir,
        users=result.user_emb,
        items=result.item_emb[rows],
        user_ids=dataset.user_ids.ids,
        item_ids=dataset.item_ids.externals(rows),
        seen=seen,
        projector=result.model.projector,
        model=result.metrics["model"],
        dataset=dataset.name,
        modal_dims=dataset.modal_dims,
        metrics=result.metrics["test"] if metrics is None else metrics,
        code_version=code_version(),
        projected=position[projected],
        cold_start=result.metrics.get("cold_start"),  # constants chosen on validation
        content=bundle_content(dataset, rows, result.metrics.get("cold_start")),
        item_projections=bundle_projections(
            result.model.projector, dataset, rows, result.metrics.get("cold_start")
        ),
    )


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
