"""Run the app under uvicorn for a bundle (or a run directory holding one): what `coldrec serve`
calls (coldrec/cli.py), the one way to start the server."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from service.main import create_app
from service.settings import Settings


def serve(bundle: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `bundle` (a bundle dir or a run dir with `bundle/`); other settings from COLDREC_*."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(Settings(bundle=Path(bundle)))
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
