"""Cold items with only some modalities: the evaluation of what the service serves (issue 13, 3).

`python -m training.evaluation.missing_modalities RUN_DIR --keep text --keep image` re-projects
the run's held-out cold items (validation and test, `Split.cold_items`) from the kept modalities
alone and recomputes the test cold tracks (cold_only, cold_all; `ranking.cold_tracks`, the
trainer's own code) from the run's saved user and warm item embeddings. No retraining.

One code path with the service: an item registered through `POST /items` with a subset of the
bundle's modalities is projected by `models.projection.project_features` with only the
modalities it came with, and `ModalProjector.concat` feeds the others as zeros. Here each cold
item is projected by that same function, with the bundle's projector
(`RUN_DIR/bundle/projector.safetensors`), given only the kept modalities. Every cold item is
re-projected, so in the all-items pool the text-only test items also compete with text-only
validation cold items, as on a service where every new item came with text only.

`full_matches_run` checks that projecting with every modality reproduces the run's saved cold
rows (`embeddings.npz`): the evaluated projector is the one the run measured. An item whose
kept modalities are all zero (norm under `service.features.MIN_NORM`) would be refused by the
service; it is still projected here and counted in `zero_items`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.projection import ModalProjector, project_features
from training.data.dataset import Dataset
from training.evaluation.ranking import cold_tracks
from training.evaluation.saved_run import load_saved_run, saved_projector

MIN_NORM = 1e-6  # service.features.MIN_NORM (not imported: the service stays out of training)
CHUNK = 8192
TRACKS = ("cold_only", "cold_all")


def project_subset(
    projector: ModalProjector, dataset: Dataset, items: np.ndarray, keep: Sequence[str]
) -> np.ndarray:
    """float32 [len(items), dim]: `items` projected from the `keep` modalities alone, as the
    service projects an item registered with only those."""
    unknown = sorted(set(keep) - set(projector.modal_dims))
    if unknown or not keep:
        raise ValueError(f"keep {sorted(keep)}: the projector has {sorted(projector.modal_dims)}")
    parts = [
        project_features(projector, {m: dataset.modalities[m][chunk] for m in keep})
        for chunk in np.array_split(items, len(items) // CHUNK + 1)
    ]
    return np.concatenate(parts, axis=0)


def zero_items(dataset: Dataset, items: np.ndarray, keep: Sequence[str]) -> int:
    """How many of `items` have every kept modality under MIN_NORM (the service refuses them)."""
    norms = [np.linalg.norm(dataset.modalities[m][items], axis=1) for m in keep]
    return int(np.all(np.stack(norms) < MIN_NORM, axis=0).sum())


def evaluate(
    run_dir: Path, dataset: Dataset, keeps: Sequence[Sequence[str]], phase: str = "test"
) -> dict[str, Any]:
    """The cold tracks of `phase` with every modality and with each `keeps` subset."""
    split, users, items = load_saved_run(run_dir)
    projector = saved_projector(run_dir)
    cold = split.cold_items()
    full = sorted(projector.modal_dims)
    saved = items[cold]
    out: dict[str, Any] = {"run": str(run_dir), "phase": phase, "modalities": full}
    out["cold_items"] = {"valid": len(split.cold_valid_items), "test": len(split.cold_test_items)}
    variants: dict[str, Any] = {}
    for keep in [full, *[sorted(k) for k in keeps]]:
        name = "+".join(keep)
        emb = items.copy()
        emb[cold] = project_subset(projector, dataset, cold, keep)
        if keep == full:
            out["full_matches_run"] = bool(np.allclose(emb[cold], saved, rtol=1e-4, atol=1e-5))
        tracks = cold_tracks(users, emb, dataset, split, phase)
        variants[name] = {
            "keep": keep,
            "zero_items": zero_items(dataset, cold, keep),
            **{t: {k: round(v, 6) for k, v in tracks[t].items()} for t in TRACKS if t in tracks},
        }
    base = variants["+".join(full)]
    for v in variants.values():
        v["share_of_full"] = {
            t: round(v[t]["recall@20"] / base[t]["recall@20"], 4)
            for t in TRACKS
            if t in v and base.get(t, {}).get("recall@20")
        }
    out["variants"] = variants
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.missing_modalities")
    parser.add_argument("run_dir", help="a finished `coldrec train` run directory")
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        help="modalities kept, comma-separated (repeatable); default: each modality alone",
    )
    parser.add_argument("--data", help="the dataset (default: the run's config.json `data`)")
    parser.add_argument("--phase", default="test", choices=("test", "valid"))
    args = parser.parse_args(argv)

    from training.data.resolve import resolve_run_data

    run_dir = Path(args.run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    _, dataset = resolve_run_data(config, args.data, run_dir)
    keeps = [[m.strip() for m in k.split(",") if m.strip()] for k in args.keep]
    if not keeps:
        keeps = [[m] for m in sorted(dataset.modalities)]
    result = evaluate(run_dir, dataset, keeps, args.phase)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
