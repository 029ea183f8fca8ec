"""The FastAPI app: `create_app(settings)`; everything heavy is built in the lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import problems
from service.errors import BundleError
from service.features import Encoder
from service.guard import BodyLimit
from service.metrics import Metrics
from service.routes import admin, health, interactions, items, recommendations
from service.runtime import Runtime
from service.settings import Settings, get_settings
from service.state import StateRefused

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the bundle, connect Redis, build the index, replay, follow the stream; undo on exit."""
    try:
        runtime = Runtime.start(app.state.settings, app.state.metrics, app.state.text_encoder)
    except (BundleError, StateRefused) as exc:
        app.state.refused = f"cannot start: {exc}"  # what StartupRefusal reports
        raise
    app.state.engine = runtime.engine
    app.state.rollout = runtime.rollout
    runtime.rollout.on_swap = lambda served: setattr(app.state, "engine", served.active)
    try:
        yield
    finally:
        app.state.engine = None
        app.state.rollout = None
        runtime.stop()


def create_app(
    settings: Settings | None = None, text_encoder: Callable[[], Encoder] | None = None
) -> FastAPI:
    """A new app; `settings` defaults to the `COLDREC_*` environment, `text_encoder` (a factory)
    to MiniLM (`models.text_encoder.TextEncoder`), made while the app starts when the bundle has
    a text modality (`COLDREC_PRELOAD_TEXT_ENCODER`, service/text.py)."""
    app = FastAPI(
        title="coldrec",
        summary="Multimodal recommendations; new items are recommendable the moment they arrive.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    app.state.metrics = Metrics()
    app.state.engine = None
    app.state.rollout = None
    app.state.text_encoder = text_encoder
    problems.install(app)
    routers = (items.router, recommendations.router, interactions.router, health.router)
    for router in (*routers, admin.router):
        app.include_router(router)
    app.add_middleware(RequestTimer, metrics=app.state.metrics)
    app.add_middleware(BodyLimit, max_bytes=app.state.settings.max_body_bytes)
    app.add_middleware(StartupRefusal, state=app.state)
    return app


class StartupRefusal:
    """Pure ASGI middleware: a start refused on purpose (a bad bundle, a state of another
    dataset) reaches the server as its reason alone, so uvicorn logs that line, not a traceback.
    The exception still propagates (TestClient raises it)."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_reason(message: Message) -> None:
            reason = getattr(self.state, "refused", None)
            if message["type"] == "lifespan.startup.failed" and reason:
                message = {"type": message["type"], "message": reason}
            await send(message)

        await self.app(scope, receive, send_reason)


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
