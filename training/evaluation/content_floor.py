"""The content floor (issue 13), chosen on validation: the weight grid, the choice, and the
post-hoc ablation over a finished run.

Scores are `models.content_floor`'s: s_model + w * cos(profile_u, content_i), ranked as inner
products of the augmented rows `item_rows` / `user_rows` (the service's rows too). Profiles are
the users' TRAIN items' content (the content-only baseline's users); content vectors are
`content_baseline.item_vectors`. The weight is w = lambda * scale, with scale the ratio of the
spreads (standard deviations) of the model's scores and of the cosines over a seeded sample of
(trained user, item) pairs, so one lambda grid serves every model and dataset.

The choice, on validation only: for each lambda of `GRID` (then the two geometric midpoints
beside the best), the objective is the mean over cold_only and cold_all of validation Recall@20
relative to the run without the floor; a lambda whose warm validation Recall@20 falls more than
`WARM_DROP` (2%) relative below the run without it is not eligible; the floor is kept only when
the best objective is above 1. `items="cold"` puts content on the cold (untrained) items only:
the warm track is then unchanged by construction, but cold items gain w * cos over warm ones in
the all-items pool, so there the warm measure is `warm_all` (warm truth ranked among all items,
cold ones included), which shows what that costs the warm items of a mixed list.

`python -m training.evaluation.content_floor RUN_DIR` chooses w on validation for each `--items`
variant from the run's saved embeddings and prints every track with and without, valid and test,
beside the content-only baseline (no retraining).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.content_floor import ITEMS, FloorConfig, item_rows, profiles, user_rows
from training.data.dataset import Dataset
from training.evaluation.content_baseline import content_source, item_vectors
from training.evaluation.ranking import (
    COLD_TRACKS,
    cold_tracks,
    evaluate_tracks,
    per_user_metrics,
    summarise,
    trained_users,
)
from training.evaluation.saved_run import load_saved_run
from training.protocol.splits import Part, Split

GRID = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0)  # lambda: w = lambda * scale
WARM_DROP = 0.02  # the most warm validation Recall@20 may lose, relative
SAMPLE = 2048  # users and items sampled for the scale
RULE = (
    "max over lambda of the mean of validation Recall@20 of cold_only and cold_all, each "
    "relative to the run without the floor, among lambdas losing at most 2% relative warm "
    "validation Recall@20 (items=cold: warm truth among all items); kept only above 1"
)


@dataclass
class FloorRun:
    """What one run's floor is computed from: embeddings, content and the profiles."""

    user_emb: np.ndarray  # [n_users, d]
    item_emb: np.ndarray  # [n_items, d], cold rows projected
    content: np.ndarray  # [n_items, dc]
    profiles: np.ndarray  # [n_users, dc], from the TRAIN items
    cold: np.ndarray  # [n_items] bool: items that did not train
    source: list[str]

    @classmethod
    def of(
        cls, user_emb: np.ndarray, item_emb: np.ndarray, dataset: Dataset, split: Split
    ) -> FloorRun:
        content = item_vectors(dataset)
        cold = np.ones(dataset.n_items, dtype=bool)
        cold[split.warm_items(dataset.n_items)] = False
        users = profiles(split.matrix(dataset, Part.TRAIN), content)
        return cls(user_emb, item_emb, content, users, cold, content_source(dataset))

    def rows(self, cfg: FloorConfig) -> tuple[np.ndarray, np.ndarray]:
        """(user rows [n_users, d + dc], item rows [n_items, d + dc]) the floor ranks by."""
        floored = True if cfg.items == "all" else self.cold
        items = item_rows(self.item_emb, self.content, cfg.weight, floored)
        return user_rows(self.user_emb, self.profiles, cfg.weight), items

    def scale(self, users: np.ndarray, seed: int = 0) -> float:
        """std of the model's scores over std of the cosines, on sampled (user, item) pairs."""
        rng = np.random.default_rng(seed)
        u = rng.choice(users, min(SAMPLE, len(users)), replace=False)
        i = rng.choice(len(self.item_emb), min(SAMPLE, len(self.item_emb)), replace=False)
        model = self.user_emb[u].astype(np.float64) @ self.item_emb[i].T.astype(np.float64)
        cos = self.profiles[u].astype(np.float64) @ self.content[i].T.astype(np.float64)
        spread = float(cos.std())
        return float(model.std()) / spread if spread > 0 else 0.0


@dataclass
class FloorSelection:
    """The choice (None: off) and metrics.json's `content_floor` section."""

    chosen: FloorConfig | None
    section: dict[str, Any]

    @property
    def cold_start(self) -> dict[str, Any]:
        """The bundle manifest's cold_start entries: the constants, or weight 0 (off)."""
        return self.chosen.manifest() if self.chosen else {"content_weight": 0.0}


def select_floor(
    user_emb: np.ndarray,
    item_emb: np.ndarray,
    dataset: Dataset,
    split: Split,
    items: str = "all",
    run: FloorRun | None = None,
) -> FloorSelection:
    """Choose w on validation (module docstring); with a floor, its tracks on valid and test."""
    if items not in ITEMS:
        raise ValueError(f"train.content_floor must be off or one of {ITEMS}, got {items!r}")
    run = run or FloorRun.of(user_emb, item_emb, dataset, split)
    base = _valid(run.user_emb, run.item_emb, dataset, split, items)
    scale = run.scale(trained_users(split.matrix(dataset, Part.TRAIN)))
    grid: list[dict[str, Any]] = []

    def point(lam: float) -> dict[str, Any]:
        cfg = FloorConfig(lam * scale, items, tuple(run.source))
        r20 = _valid(*run.rows(cfg), dataset, split, items)
        ratios = [r20[t] / base[t] for t in COLD_TRACKS if base.get(t)]
        row = {"lambda": lam, "weight": cfg.weight, **{t: round(v, 6) for t, v in r20.items()}}
        row["objective"] = round(float(np.mean(ratios)), 6) if ratios else 0.0
        row["warm_ok"] = bool(r20.get("warm", 0.0) >= (1 - WARM_DROP) * base.get("warm", 0.0))
        grid.append(row)
        return row

    def best() -> dict[str, Any] | None:
        ok = [g for g in grid if g["warm_ok"] and g["objective"] > 1.0]
        return max(ok, key=lambda g: (g["objective"], -g["lambda"])) if ok else None

    if scale > 0:
        for lam in GRID:
            point(lam)
        top = best()
        if top is not None:  # refine between the best and its neighbours
            for lam in (top["lambda"] / np.sqrt(2.0), top["lambda"] * np.sqrt(2.0)):
                point(float(lam))
    top = best()
    section: dict[str, Any] = {
        "items": items,
        "source": run.source,
        "rule": RULE,
        "scale": round(scale, 6),
        "without_valid": {t: round(v, 6) for t, v in base.items()},
        "grid": grid,
        "lambda": top["lambda"] if top else 0.0,
        "weight": top["weight"] if top else 0.0,
    }
    if top is None:
        return FloorSelection(None, section)
    chosen = FloorConfig(float(top["weight"]), items, tuple(run.source))
    users, rows = run.rows(chosen)
    for phase in ("valid", "test"):
        section[phase] = evaluate_tracks(users, rows, dataset, split, phase=phase)
    return FloorSelection(chosen, section)


def bundle_content(
    dataset: Dataset, rows: np.ndarray, cold_start: dict[str, Any] | None
) -> np.ndarray | None:
    """The content vectors [len(rows), dc] of a bundle's items (dataset rows `rows`) when its
    cold_start turns the floor on (content.npy), else None."""
    if FloorConfig.from_manifest(cold_start or {}) is None:
        return None
    return item_vectors(dataset)[rows]


def warm_all(
    user_emb: np.ndarray, item_emb: np.ndarray, dataset: Dataset, split: Split, phase: str
) -> float:
    """Recall@20 of the phase's warm truth ranked among ALL items (cold ones included): what
    boosting cold items costs the warm ones in a mixed list."""
    train = split.matrix(dataset, Part.TRAIN)
    truth = split.matrix(dataset, Part.TEST if phase == "test" else Part.VALID)
    u, v = np.asarray(user_emb, np.float32), np.asarray(item_emb, np.float32)

    def score(chunk: np.ndarray, cand: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(u[chunk] @ v[cand].T)  # [b, c]

    _, per_user = per_user_metrics(
        score, exclude=train, truth=truth, candidates=None, users=trained_users(train)
    )
    return float(summarise(per_user)["recall@20"])


def _valid(
    users: np.ndarray, items: np.ndarray, dataset: Dataset, split: Split, floor_items: str
) -> dict[str, float]:
    """Validation Recall@20 of what the choice reads: the cold tracks, and the warm truth the
    floor can move: the warm track for items="all"; for items="cold", whose warm track is
    unchanged by construction, warm truth ranked among all items (`warm_all`, as "warm")."""
    if floor_items == "cold":
        out = _r20(cold_tracks(users, items, dataset, split, "valid"))
        return out | {"warm": warm_all(users, items, dataset, split, "valid")}
    tracks = evaluate_tracks(users, items, dataset, split, phase="valid")
    return {t: float(m["recall@20"]) for t, m in tracks.items() if t in ("warm", *COLD_TRACKS)}


def ablation(run_dir: Path, dataset: Dataset, variants: Sequence[str]) -> dict[str, Any]:
    """Every track with and without the floor of each `variants` item set, valid and test."""
    split, users, items = load_saved_run(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    run = FloorRun.of(users, items, dataset, split)
    without = {p: evaluate_tracks(users, items, dataset, split, phase=p) for p in ("valid", "test")}
    out: dict[str, Any] = {"run": str(run_dir), "dataset": dataset.name, "source": run.source}
    out["without"] = {p: _r20(t) for p, t in without.items()}
    out["without"]["test_warm_all"] = round(warm_all(users, items, dataset, split, "test"), 6)
    content = metrics.get("content", {}).get("test", {})
    out["content_baseline_test"] = _r20(content)
    for name in variants:
        sel = select_floor(users, items, dataset, split, name, run)
        entry: dict[str, Any] = {
            k: sel.section[k] for k in ("lambda", "weight", "scale", "without_valid", "grid")
        }
        if sel.chosen is not None:
            entry |= {p: _r20(sel.section[p]) for p in ("valid", "test")}
            u, v = run.rows(sel.chosen)
            entry["test_warm_all"] = round(warm_all(u, v, dataset, split, "test"), 6)
            with_test = sel.section["test"]
        else:
            with_test = without["test"]
        entry["over_content_test"] = {
            t: round(with_test[t]["recall@20"] / content[t]["recall@20"], 4)
            for t in COLD_TRACKS
            if t in with_test and content.get(t, {}).get("recall@20")
        }
        out[name] = entry
    return out


def _r20(tracks: dict[str, Any]) -> dict[str, float]:
    return {t: float(m["recall@20"]) for t, m in tracks.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.content_floor")
    parser.add_argument("run_dir", help="a finished `coldrec train` run directory")
    parser.add_argument("--items", default="all,cold", help="variants: all, cold or both")
    parser.add_argument("--data", help="the dataset (default: the run's config.json `data`)")
    args = parser.parse_args(argv)

    from training.data.resolve import resolve_run_data

    run_dir = Path(args.run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    _, dataset = resolve_run_data(config, args.data, run_dir)
    kept = list(config.get("modal_dims") or dataset.modalities)
    if sorted(kept) != sorted(dataset.modalities):  # a modality ablation's run: its modalities
        dataset = dataset.with_modalities(kept)
    variants = [v.strip() for v in args.items.split(",") if v.strip()]
    json.dump(ablation(run_dir, dataset, variants), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
