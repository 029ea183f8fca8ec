"""The handler of `coldrec replay` (clients/replay.py against a running service): coldrec/cli.py
parses the arguments and imports this module only when it runs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def replay(args: argparse.Namespace) -> int:
    import httpx

    from clients.replay import ReplayConfig, format_report
    from clients.replay import replay as play
    from training.data.resolve import resolve_run_data

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per request
    run = Path(args.run)
    config_path = run / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    cfg = ReplayConfig(
        max_users=args.max_users,
        max_seconds=args.max_seconds,
        k=args.k,
        seed=args.seed,
        users_per_second=args.users_per_second,
        register_batch=args.register_batch,
        pool=args.pool,
        phase=args.phase,
        cold_only=args.cold_only,
        first_n=args.first_n,
    )
    _, dataset = resolve_run_data(config, args.data, run)  # as trained
    with httpx.Client(base_url=args.url, timeout=args.timeout) as client:
        try:
            result = play(run, dataset, client, cfg)
        except httpx.TransportError as exc:
            raise ValueError(f"cannot reach the service at {args.url}: {exc}") from exc
    sys.stdout.write(format_report(result, cfg.k) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(result.summary(cfg.k), indent=2) + "\n")
    return 0
