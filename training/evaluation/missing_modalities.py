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

After the projection, the rest of the cold-start pipeline the bundle's manifest `cold_start`
asks for, as the service applies it: the simulated-edges step (`models.simulated_edges`, built
over the run's trained items and users as `service/cold_edges.py` builds it; an item's match
key is its own subset projection) and the content floor (`models.content_floor`: a cold item's
content from its kept modalities alone, as `service.floor.record_content` computes it, so a
text-sourced floor gives an image-only item no content part; users' profiles from their
training items' full content, as the bundle's).

`full_matches_run` checks that projecting with every modality (then the step) reproduces the
run's saved cold rows (`embeddings.npz`): the evaluated pipeline is the one the run measured.
An item whose kept modalities are all zero (norm under `service.features.MIN_NORM`) would be
refused by the service; it is still projected here and counted in `zero_items`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.content_floor import FloorConfig, content_vectors
from models.projection import ModalProjector, project_features
from models.simulated_edges import EdgesConfig, SimulatedEdges
from training.data.dataset import Dataset
from training.evaluation.content_floor import FloorRun
from training.evaluation.ranking import cold_tracks
from training.evaluation.saved_run import load_saved_run, saved_projector
from training.evaluation.simulated_edges import build_edges, item_projections
from training.protocol.splits import Split

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


class ServedCold:
    """What the service makes of a cold item's features under a bundle's `cold_start`: the
    projection, then the simulated-edges step and the content floor where the bundle has them."""

    def __init__(
        self,
        projector: ModalProjector,
        dataset: Dataset,
        split: Split,
        users: np.ndarray,
        items: np.ndarray,
        cold_start: dict[str, Any],
    ) -> None:
        self.projector, self.dataset = projector, dataset
        self.users, self.items = users, items
        edges_cfg = EdgesConfig.from_manifest(cold_start)
        self.edges: SimulatedEdges | None = None
        if edges_cfg is not None:
            projections = (
                item_projections(projector, dataset) if edges_cfg.source == "content" else None
            )
            self.edges = build_edges(edges_cfg, users, items, dataset, split, projections)
        self.floor_cfg = FloorConfig.from_manifest(cold_start)
        self.floor = None if self.floor_cfg is None else FloorRun.of(users, items, dataset, split)

    @property
    def applied(self) -> list[str]:
        return [n for n, on in (("edges", self.edges), ("floor", self.floor_cfg)) if on]

    def embed(self, cold: np.ndarray, keep: Sequence[str]) -> np.ndarray:
        """float32 [len(cold), dim]: the cold items' served model part from `keep` alone."""
        out = project_subset(self.projector, self.dataset, cold, keep)
        return out if self.edges is None else self.edges.apply(out)

    def rows(
        self, cold: np.ndarray, keep: Sequence[str], embedded: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(user rows, item rows) the service ranks by, the cold rows `embedded` from `keep`."""
        items = self.items.copy()
        items[cold] = embedded
        if self.floor is None:
            return self.users, items
        assert self.floor_cfg is not None  # set together in __init__
        source, dims = self.floor_cfg.source, self.dataset.modal_dims
        content = self.floor.content.copy()
        kept = {m: self.dataset.modalities[m][cold] for m in keep}
        content[cold] = content_vectors(kept, source, dims)  # an absent source: zeros
        run = FloorRun(self.users, items, content, self.floor.profiles, self.floor.cold, [])
        return run.rows(self.floor_cfg)


def evaluate(
    run_dir: Path, dataset: Dataset, keeps: Sequence[Sequence[str]], phase: str = "test"
) -> dict[str, Any]:
    """The cold tracks of `phase` with every modality and with each `keeps` subset, each as the
    service serves it (`ServedCold`)."""
    from bundle.reader import load_bundle

    split, users, items = load_saved_run(run_dir)
    projector = saved_projector(run_dir)
    served = ServedCold(
        projector, dataset, split, users, items, load_bundle(run_dir).manifest.cold_start
    )
    cold = split.cold_items()
    full = sorted(projector.modal_dims)
    out: dict[str, Any] = {"run": str(run_dir), "phase": phase, "modalities": full}
    out["cold_items"] = {"valid": len(split.cold_valid_items), "test": len(split.cold_test_items)}
    out["cold_start"] = served.applied
    variants: dict[str, Any] = {}
    for keep in [full, *[sorted(k) for k in keeps]]:
        name = "+".join(keep)
        embedded = served.embed(cold, keep)
        if keep == full:
            out["full_matches_run"] = bool(np.allclose(embedded, items[cold], rtol=1e-4, atol=1e-5))
        tracks = cold_tracks(*served.rows(cold, keep, embedded), dataset, split, phase)
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
