"""The FastAPI app: `create_app(settings)`; everything heavy is built in the lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

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
    app.middleware("http")(_time_requests)
    app.add_middleware(BodyLimit, max_bytes=app.state.settings.max_body_bytes)
    return app


async def _time_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    start = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    request.app.state.metrics.request_latency.labels(request.method, path).observe(
        time.perf_counter() - start
    )
    return response
