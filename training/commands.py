"""The handlers of training's subcommands (`coldrec train`, `data stats`, `report`, `ensemble`):
coldrec/cli.py parses the arguments and imports this module only when one of them runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """`--text-columns` and `--skip-invalid` as `resolve_data`'s keywords (only those given)."""
    options: dict[str, Any] = {}
    if getattr(args, "text_columns", None):
        options["text_columns"] = [c.strip() for c in args.text_columns.split(",") if c.strip()]
    if getattr(args, "skip_invalid", False):
        options["skip_invalid"] = True
    return options


def train(args: argparse.Namespace) -> int:
    from training.config import RunConfig, apply_overrides, load_config_file, parse_assignments
    from training.data.resolve import resolve_data
    from training.export import write_run
    from training.fitting.distributed import session
    from training.fitting.trainer import train as fit

    cfg = RunConfig()
    if args.config:
        apply_overrides(cfg, load_config_file(Path(args.config)))
    apply_overrides(cfg, parse_assignments(args.set or []))
    for flag, key in (("epochs", "train.epochs"), ("seed", "train.seed")):
        if getattr(args, flag) is not None:
            apply_overrides(cfg, {key: getattr(args, flag)})
    if args.cold_fraction is not None:
        apply_overrides(cfg, {"train.cold_fraction": args.cold_fraction})
    dataset = resolve_data(args.data, **reader_options(args))
    if args.modalities:
        dataset = dataset.with_modalities([m.strip() for m in args.modalities.split(",") if m])
    deploy = None
    with session() as ranks:  # torchrun: the process group, else None (distributed.py)
        if getattr(args, "deploy", False):
            from training.fitting.deploy import deploy_fit

            deploy = deploy_fit(dataset, args.model, cfg, progress=not args.quiet, ranks=ranks)
            result = deploy.evaluation if deploy is not None else None
        else:
            result = fit(dataset, args.model, cfg, progress=not args.quiet, ranks=ranks)
        if ranks is not None and not ranks.is_main:
            return 0  # rank 0 alone writes the run and prints the summary
    assert result is not None
    bundle = write_run(
        Path(args.out),
        dataset,
        result,
        cfg,
        args.data,
        data_options=reader_options(args),
        deploy=deploy,
    )
    summary = {
        "run": str(Path(args.out)),
        "bundle": str(bundle),
        "model": args.model,
        "dataset": dataset.name,
        "best_epoch": result.metrics["best_epoch"],
        "train_seconds": result.metrics["train_seconds"],
        "test_recall@20": {t: m["recall@20"] for t, m in result.metrics["test"].items()},
        "random_recall@20": {
            t: m["recall@20"] for t, m in result.metrics["random"]["test"].items()
        },
    }
    if deploy is not None:
        section = result.metrics["deploy"]  # the line of it; metrics.json has the rest
        summary["deploy"] = {
            k: section[k]
            for k in (
                "backbone_epochs",
                "projector_epochs",
                "scale_multiplier",
                "n_items",
                "n_projected",
                "refit_seconds",
                "chosen_on",
            )
        }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def data_stats(args: argparse.Namespace) -> int:
    from training.data.resolve import resolve_data

    dataset = resolve_data(args.dir, **reader_options(args))
    stats = dataset.stats()
    without = {"items_without_interactions": dataset.n_items_without_interactions}
    stats = {"users": stats["users"], "items": stats["items"], **without, **stats}
    sys.stdout.write(json.dumps(stats) + "\n")
    return 0


def report(args: argparse.Namespace) -> int:
    from training.report.writer import write_report

    fields = [Path(f) for f in args.field or ()]
    path = write_report([Path(r) for r in args.runs], Path(args.out), fields)
    sys.stdout.write(f"{path}\n")
    return 0


def ensemble(args: argparse.Namespace) -> int:
    from training.data.resolve import resolve_run_data
    from training.fitting.ensemble import Member, write_ensemble
    from training.fitting.ensemble import ensemble as combine

    a, b = Member.load(Path(args.run_a)), Member.load(Path(args.run_b))
    data, dataset = resolve_run_data(a.config, args.data, args.run_a)  # as RUN_A read it
    result = combine(a, b, dataset, seed=int(a.split.seed))
    out = write_ensemble(Path(args.out), a, b, result, data)
    summary = {
        "run": str(out),
        "model": result.metrics["model"],
        "alpha": result.alpha,
        "test_recall@20": {t: m["recall@20"] for t, m in result.metrics["test"].items()},
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0
