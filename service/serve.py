"""Run the app under uvicorn for a bundle (or a run directory holding one): what `coldrec serve`
calls (coldrec/cli.py), the one way to start the server.

`workers` > 1 starts that many processes on the one port (uvicorn's workers; the kernel hands each
new connection to one of them). Each is a replica of the design in docs/SERVICE.md: it loads the
bundle and follows the shared Redis's event stream, so a write taken by one is served by all of
them within the follower's lag; a keep-alive connection stays with its worker, so on one
connection a client always reads its own writes. Metrics are summed over the workers
(service/metrics.py). The workers need a Redis they can share: COLDREC_REDIS_URL.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from service.main import create_app
from service.metrics import MULTIPROC_ENV
from service.settings import Settings


class ServeError(ValueError):
    """Settings that cannot serve as asked (the CLI prints it as one line, exit 2)."""


def serve(bundle: Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve `bundle` (a bundle dir or a run dir with `bundle/`); other settings from COLDREC_*."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings(bundle=Path(bundle))
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=False)
        return
    if workers < 1:
        raise ServeError(f"--workers must be at least 1, not {workers}")
    if settings.redis_url is None:
        raise ServeError(
            "--workers > 1 needs a Redis every worker shares: set COLDREC_REDIS_URL (the "
            "embedded Redis belongs to one process)"
        )
    metrics_dir = tempfile.mkdtemp(prefix="coldrec-metrics-")
    os.environ["COLDREC_BUNDLE"] = str(bundle)  # the workers build their settings from these
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run(
            "service.serve:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def app_from_environment() -> FastAPI:
    """The app of one worker of `serve(..., workers=N)`: every setting from COLDREC_*."""
    return create_app(Settings())
