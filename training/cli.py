"""The `coldrec` command line: train, evaluate and report offline; serve a bundle online."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from models.registry import MODELS


def _train(args: argparse.Namespace) -> int:
    from training.config import RunConfig, apply_overrides, load_config_file, parse_assignments
    from training.data.resolve import resolve_data
    from training.export import write_run
    from training.fitting.trainer import train

    cfg = RunConfig()
    if args.config:
        apply_overrides(cfg, load_config_file(Path(args.config)))
    apply_overrides(cfg, parse_assignments(args.set or []))
    for flag, key in (("epochs", "train.epochs"), ("seed", "train.seed")):
        if getattr(args, flag) is not None:
            apply_overrides(cfg, {key: getattr(args, flag)})
    if args.cold_fraction is not None:
        apply_overrides(cfg, {"train.cold_fraction": args.cold_fraction})
    dataset = resolve_data(args.data)
    if args.modalities:
        dataset = dataset.with_modalities([m.strip() for m in args.modalities.split(",") if m])
    result = train(dataset, args.model, cfg, progress=not args.quiet)
    bundle = write_run(Path(args.out), dataset, result, cfg, args.data)
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
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    from training.data.resolve import resolve_data

    sys.stdout.write(json.dumps(resolve_data(args.dir).stats()) + "\n")
    return 0


def _report(args: argparse.Namespace) -> int:
    from training.report.writer import write_report

    path = write_report([Path(r) for r in args.runs], Path(args.out))
    sys.stdout.write(f"{path}\n")
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from training.data.resolve import resolve_data
    from training.fitting.ensemble import Member, ensemble, write_ensemble

    a, b = Member.load(Path(args.run_a)), Member.load(Path(args.run_b))
    data = args.data or str(a.config.get("data", ""))
    if not data:
        raise ValueError(f"{args.run_a}/config.json names no data: pass --data")
    result = ensemble(a, b, resolve_data(data), seed=int(a.split.seed))
    out = write_ensemble(Path(args.out), a, b, result, data)
    summary = {
        "run": str(out),
        "model": result.metrics["model"],
        "alpha": result.alpha,
        "test_recall@20": {t: m["recall@20"] for t, m in result.metrics["test"].items()},
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from service.serve import serve

    serve(Path(args.bundle), args.host, args.port)
    return 0


def _replay(args: argparse.Namespace) -> int:
    import httpx

    from clients.replay import ReplayConfig, format_report, replay
    from training.data.resolve import resolve_data

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per request
    run = Path(args.run)
    data = args.data or str(json.loads((run / "config.json").read_text()).get("data", ""))
    if not data:
        raise ValueError(f"{run}/config.json names no data: pass --data")
    cfg = ReplayConfig(
        max_users=args.max_users,
        max_seconds=args.max_seconds,
        k=args.k,
        seed=args.seed,
        users_per_second=args.users_per_second,
        register_batch=args.register_batch,
    )
    with httpx.Client(base_url=args.url, timeout=args.timeout) as client:
        try:
            result = replay(run, resolve_data(data), client, cfg)
        except httpx.TransportError as exc:
            raise ValueError(f"cannot reach the service at {args.url}: {exc}") from exc
    sys.stdout.write(format_report(result, cfg.k) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(result.summary(cfg.k), indent=2) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coldrec", description="Multimodal cold-start recommendation: train, report, serve."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="fit a model, evaluate the three tracks, write a run with its bundle",
        description="Split the data (cold items held out), fit MODEL with BPR, early-stop on "
        "validation Recall@20, fit the cold-item projector, evaluate every track and write "
        "RUN_DIR/{bundle/,split.npz,metrics.json,config.json}.",
    )
    train.add_argument("--data", required=True, help="dataset folder, or synthetic[:key=value,...]")
    train.add_argument("--model", required=True, choices=sorted(MODELS))
    train.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    train.add_argument("--epochs", type=int, help="maximum epochs (default 200)")
    train.add_argument("--seed", type=int, help="seed of the split, sampling and init (default 0)")
    train.add_argument(
        "--cold-fraction", type=float, help="share of items held out as cold (default 0.2)"
    )
    train.add_argument(
        "--modalities",
        metavar="NAMES",
        help="comma-separated modalities to keep, e.g. text or image,audio (default: all)",
    )
    train.add_argument("--config", metavar="FILE", help="TOML or JSON file of settings")
    train.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set model.dim=64 --set train.lr=1e-3 (repeatable)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)

    data = sub.add_parser("data", help="inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    stats = data_sub.add_parser("stats", help="print users, items, interactions and modalities")
    stats.add_argument("dir", help="dataset folder, or synthetic[:key=value,...]")
    stats.set_defaults(func=_data_stats)

    report = sub.add_parser("report", help="render a Markdown report with plots from runs")
    report.add_argument("runs", nargs="+", metavar="RUN_DIR")
    report.add_argument("--out", required=True, metavar="DIR")
    report.set_defaults(func=_report)

    ens = sub.add_parser(
        "ensemble",
        help="combine two finished runs on the same split into one run",
        description="Score = alpha * s_A + (1 - alpha) * s_B after dividing each run's scores by "
        "its mean warm item norm times mean user norm; alpha in 0, 0.1, ..., 1 chosen on "
        "validation (mean of warm and all-items cold Recall@20); every track evaluated on test. "
        "Writes RUN_DIR/{metrics.json,config.json,split.npz,embeddings.npz} for `coldrec report`.",
    )
    ens.add_argument("run_a", metavar="RUN_A")
    ens.add_argument("run_b", metavar="RUN_B")
    ens.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    ens.add_argument(
        "--data", help="dataset folder or synthetic[:...] (default: the one RUN_A names)"
    )
    ens.set_defaults(func=_ensemble)

    serve = sub.add_parser("serve", help="serve a bundle over HTTP (FastAPI under uvicorn)")
    serve.add_argument("--bundle", required=True, help="run directory or its bundle/ directory")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)

    rep = sub.add_parser(
        "replay",
        help="play a run's held-out test interactions against a running service",
        description="Register the run's cold test items (POST /items), then for sampled test "
        "users ask for recommendations and post their held-out test interactions; print the "
        "online hit rates of cold and warm items (from /metrics) beside the run's offline "
        "Recall@K.",
    )
    rep.add_argument("--run", required=True, metavar="RUN_DIR", help="run of `coldrec train`")
    rep.add_argument("--data", help="dataset folder or synthetic[:...] (default: the run's)")
    rep.add_argument("--url", required=True, help="service base URL, e.g. http://127.0.0.1:8000")
    rep.add_argument("--max-users", type=int, default=200, help="users to play (default 200)")
    rep.add_argument("--max-seconds", type=float, default=120.0, help="time bound (default 120)")
    rep.add_argument("--k", type=int, default=20, help="recommendations per user (default 20)")
    rep.add_argument("--seed", type=int, default=0, help="seed of the user sample (default 0)")
    rep.add_argument(
        "--users-per-second",
        type=float,
        default=0.0,
        help="pace users and item batches (default 0: none)",
    )
    rep.add_argument(
        "--register-batch", type=int, default=256, help="cold items per POST /items (default 256)"
    )
    rep.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    rep.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    rep.set_defaults(func=_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader narrates every CPU probe
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as exc:
        sys.stderr.write(f"coldrec: error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
