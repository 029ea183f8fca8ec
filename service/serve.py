"""`coldrec serve`: run the app under uvicorn for a bundle (or a run directory holding one)."""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m service.serve", description=__doc__)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    serve(args.bundle, args.host, args.port)


if __name__ == "__main__":
    main()
