"""Refit a finished run's projector with other settings, on its saved backbone (issue 13).

`python -m training.fitting.refit_projector RUN_DIR --set train.cold_training.distill_ranking=1`
reads the run's split (`split.npz`), its trained user and warm item embeddings
(`embeddings.npz`) and its config, fits a fresh projector exactly as `coldrec train` does
after the backbone (`fit_projector`: the epoch chosen on cold validation items, the norm match
and the loudness multiplier chosen on validation) with the run's settings plus the overrides,
and prints the validation and test cold tracks (cold_only, cold_all) as JSON. The warm track
does not depend on the projector. No backbone retraining, so projector-side options (the
distillation weights, modality dropout in the fit) are compared in minutes, each against a
refit without overrides (the same seed, the same fresh start; the run's own projector started
from another random state, after its backbone's training). ID dropout trains the projector
with the backbone and cannot be refitted here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.projection import ModalProjector
from training.config import RunConfig, apply_overrides, parse_assignments
from training.data.dataset import Dataset
from training.evaluation.ranking import cold_tracks
from training.evaluation.saved_run import load_saved_run
from training.fitting.cold_training import used
from training.fitting.projector import embed_all_items, fit_projector
from training.fitting.warm_view import WarmView

TRACKS = ("cold_only", "cold_all")


@dataclass
class _Projected:
    """A stand-in for the run's model: the projector alone (`projector.HasProjector`)."""

    projector: ModalProjector | None


def run_config(config: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    """The run's settings (its config.json `model` and `train` sections) plus `overrides`."""
    cfg = RunConfig()
    apply_overrides(cfg, {"model": config["model"], "train": config["train"]})
    apply_overrides(cfg, overrides)
    return cfg


def refit(run_dir: Path, dataset: Dataset, cfg: RunConfig) -> dict[str, Any]:
    """A fresh projector fitted on the run's embeddings under `cfg`: its fit and cold tracks."""
    if cfg.train.cold_training.id_dropout:
        raise ValueError("id_dropout trains the projector with the backbone: retrain the run")
    split, users, items = load_saved_run(run_dir)
    view = WarmView.build(dataset, split)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    holder = _Projected(ModalProjector(dataset.modal_dims, cfg.model.dim, cfg.model.projector))
    user_t, warm_t = torch.from_numpy(users), torch.from_numpy(items[view.warm_items])
    started = time.perf_counter()
    fit = fit_projector(holder, dataset, split, view, user_t, warm_t, cfg.train, False)
    emb = embed_all_items(holder, dataset, view, warm_t)
    out: dict[str, Any] = {
        "run": str(run_dir),
        "cold_training": {"used": used(cfg.train.cold_training), **vars(cfg.train.cold_training)},
        "projector": fit.summary(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    for phase in ("valid", "test"):
        tracks = cold_tracks(users, emb, dataset, split, phase)
        out[phase] = {t: round(tracks[t]["recall@20"], 6) for t in TRACKS if t in tracks}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.fitting.refit_projector")
    parser.add_argument("run_dir", help="a finished `coldrec train` run directory")
    parser.add_argument("--set", action="append", default=[], help="RunConfig override a.b=v")
    parser.add_argument("--data", help="the dataset (default: the run's config.json `data`)")
    args = parser.parse_args(argv)

    from training.data.resolve import resolve_run_data

    run_dir = Path(args.run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    _, dataset = resolve_run_data(config, args.data, run_dir)
    if config.get("modal_dims") and set(config["modal_dims"]) != set(dataset.modalities):
        dataset = dataset.with_modalities(sorted(config["modal_dims"]))
    cfg = run_config(config, parse_assignments(args.set))
    json.dump(refit(run_dir, dataset, cfg), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
