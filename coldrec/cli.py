"""The `coldrec` command line: train, evaluate and report offline; serve a bundle online.

Only the standard library is imported here. Each subcommand imports its handler when it runs:
training's from `training.commands`, the replay client's from `clients.commands`, the server from
`service.serve`; so `coldrec serve` loads nothing of training, and an install that ships only the
service (the Docker image) says so instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def _lazy(command: str, module: str, function: str) -> Handler:
    """A handler that imports `module` only when `coldrec COMMAND` runs."""

    def run(args: argparse.Namespace) -> int:
        try:
            handler: Handler = getattr(importlib.import_module(module), function)
        except ModuleNotFoundError as exc:
            package = module.partition(".")[0]
            if exc.name not in (package, module):
                raise  # a missing dependency inside the package: a real error
            raise ValueError(
                f"coldrec {command} needs the {package} package; this install serves only"
            ) from exc
        return int(handler(args))

    return run


def _serve(args: argparse.Namespace) -> int:
    from service.serve import serve

    serve(Path(args.bundle), args.host, args.port, args.workers)  # ServeError: main's one line
    return 0


DATA_HELP = (
    "dataset folder: plain input (interactions.csv + items.csv, or .parquet; README 'Your own "
    "data'), P5, RecBole, MMRec or DiffMM, detected; or generated: synthetic[:key=value,...] "
    "(latent factors) or synthetic:words[,key=value,...] (shop items with words; make demo's)"
)


def _add_reader_options(parser: argparse.ArgumentParser) -> None:
    """The plain-input reader's options (README "Your own data")."""
    parser.add_argument(
        "--text-columns",
        metavar="COLS",
        help="plain input: the items file's columns joined into each item's text, e.g. "
        "title,description (default: every string column but item_id that is not all numbers)",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="plain input: drop the rows that break the schema (an unknown item, a bad timestamp "
        "or weight, an empty id), reporting how many and their first lines, instead of failing",
    )


def build_parser() -> argparse.ArgumentParser:
    from models.names import MODEL_NAMES  # a tuple of names: no torch, no model imported

    parser = argparse.ArgumentParser(
        prog="coldrec", description="Multimodal cold-start recommendation: train, report, serve."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="fit a model, evaluate the three tracks, write a run with its bundle",
        description="Split the data (cold items held out), fit MODEL with BPR, early-stop on "
        "validation Recall@20, fit the cold-item projector, evaluate every track and write "
        "RUN_DIR/{bundle/,split.npz,embeddings.npz,metrics.json,config.json}.",
    )
    train.add_argument("--data", required=True, help=DATA_HELP)
    _add_reader_options(train)
    train.add_argument("--model", required=True, choices=sorted(MODEL_NAMES))
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
    train.add_argument(
        "--deploy",
        action="store_true",
        help="train twice: first the evaluation run, as without --deploy, chooses the "
        "backbone's epoch, the projector's epoch and its loudness on validation "
        "(metrics.json keeps its figures and states the choices under 'deploy'); "
        "then a refit on every item and interaction, with those choices and the same seed, "
        "writes the bundle: every item, those with no interaction projected from their "
        "features and served as cold. Needs cold validation items when there are modalities",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_lazy("train", "training.commands", "train"))

    data = sub.add_parser("data", help="inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    stats = data_sub.add_parser(
        "stats",
        help="print users, items (and those without interactions), interactions, modalities, "
        "and the rows skipped or merged",
    )
    stats.add_argument("dir", help=DATA_HELP)
    _add_reader_options(stats)
    stats.set_defaults(func=_lazy("data stats", "training.commands", "data_stats"))

    report = sub.add_parser("report", help="render a Markdown report with plots from runs")
    report.add_argument("runs", nargs="+", metavar="RUN_DIR")
    report.add_argument("--out", required=True, metavar="DIR")
    report.add_argument(
        "--field",
        metavar="FILE",
        action="append",
        help="another system's figures on our split to show beside the runs (JSON); repeat it "
        "for several, one section each, in the order given (docs/results/field/: "
        "coldrec_toolkit.json, the ColdRec toolkit on Beauty; coldrec_before.json, coldrec's "
        "own table before issues 13 and 16)",
    )
    report.set_defaults(func=_lazy("report", "training.commands", "report"))

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
    ens.set_defaults(func=_lazy("ensemble", "training.commands", "ensemble"))

    serve = sub.add_parser(
        "serve",
        help="serve a bundle over HTTP (FastAPI under uvicorn)",
        description="Serve a bundle (docs/SERVICE.md); every other setting comes from the "
        "COLDREC_* environment variables.",
    )
    serve.add_argument("--bundle", required=True, help="run directory or its bundle/ directory")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on the port, each a replica following the shared Redis "
        "(needs COLDREC_REDIS_URL; default 1). On one connection a client reads its own "
        "writes; across connections, within the followers' lag (docs/SERVICE.md)",
    )
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
    rep.add_argument(
        "--phase",
        choices=("valid", "test"),
        default="test",
        help="test (default): the cold test items and test interactions; valid: the cold "
        "validation items and validation interactions (choose constants on it, never on test)",
    )
    rep.add_argument(
        "--pool", choices=("all", "warm", "cold"), default="all", help="pool asked (default all)"
    )
    rep.add_argument(
        "--cold-only", action="store_true", help="play only the interactions on cold items"
    )
    rep.add_argument(
        "--first-n",
        type=int,
        default=10,
        help="report the cold hit rate over each item's first N interactions (default 10)",
    )
    rep.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    rep.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    rep.set_defaults(func=_lazy("replay", "clients.commands", "replay"))

    exp = sub.add_parser(
        "export",
        help="write the run's data plus what the service learned (registered items, online "
        "interactions) as plain input, to retrain on",
        description="Read the live state the service on RUN_DIR reads (COLDREC_REDIS_URL and "
        "COLDREC_NAMESPACE, or the embedded Redis beside the run) and write DIR as plain input "
        "(README 'Close the loop'): the run's own data, every registered item (its text; the "
        "vectors of items registered by features), every interaction posted online with its "
        "time and event; retired items and their interactions left out. Then "
        "`coldrec train --data DIR --deploy`.",
    )
    exp.add_argument("--bundle", required=True, metavar="RUN_DIR", help="the run being served")
    exp.add_argument("--out", required=True, metavar="DIR", help="new folder to write")
    exp.add_argument(
        "--chunk", type=int, default=10_000, help="interactions read from Redis at a time"
    )
    exp.add_argument(
        "--keep-log",
        action="store_true",
        help="do not trim the interaction log below what the run's data (an earlier export "
        "of this state) already holds",
    )
    exp.add_argument("--quiet", action="store_true", help="no progress bar")
    exp.set_defaults(func=_lazy("export", "training.live_export", "export"))
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
