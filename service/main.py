"""The FastAPI app: `create_app(settings)`; everything heavy is built in the lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from service import problems
from service.features import Encoder
from service.guard import BodyLimit
from service.metrics import Metrics
from service.routes import health, interactions, items, recommendations
from service.runtime import Runtime
from service.settings import Settings, get_settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the bundle, connect Redis, build the index, replay, follow the stream; undo on exit."""
    runtime = Runtime.start(app.state.settings, app.state.metrics, app.state.text_encoder)
    app.state.engine = runtime.engine
    try:
        yield
    finally:
        app.state.engine = None
        runtime.stop()


def create_app(
    settings: Settings | None = None, text_encoder: Callable[[], Encoder] | None = None
) -> FastAPI:
    """A new app; `settings` defaults to the `COLDREC_*` environment, `text_encoder` (a factory)
    to MiniLM (`models.text_encoder.TextEncoder`), loaded on the first raw-text item."""
    app = FastAPI(
        title="coldrec",
        summary="Multimodal recommendations; new items are recommendable the moment they arrive.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    app.state.metrics = Metrics()
    app.state.engine = None
    app.state.text_encoder = text_encoder
    problems.install(app)
    for router in (items.router, recommendations.router, interactions.router, health.router):
        app.include_router(router)
    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, max_bytes=app.state.settings.max_body_bytes)
    return app


class RequestTimer:
    """Pure ASGI middleware: latency by method and route template (cheaper than an http one)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request_latency.labels(scope["method"], path).observe(
                time.perf_counter() - start
            )
