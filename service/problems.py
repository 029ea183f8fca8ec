"""application/problem+json (RFC 9457): one table from exception class to status and type."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.errors import (
    BundleError,
    BundleRefused,
    Forbidden,
    IndexUnavailable,
    InvalidFeatures,
    InvalidRequest,
    ModelNotReady,
    PayloadTooLarge,
    RateLimited,
    RolloutConflict,
    ServiceError,
    StoreUnavailable,
    Unauthorized,
    UnknownItem,
)

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/problems/"

# exception class -> (HTTP status, type slug, title). The most specific class wins (MRO order).
PROBLEMS: dict[type[Exception], tuple[int, str, str]] = {
    InvalidRequest: (400, "invalid-request", "Invalid request"),
    Unauthorized: (401, "unauthorized", "An API key is required"),
    Forbidden: (403, "forbidden", "The API key is not valid"),
    PayloadTooLarge: (413, "payload-too-large", "The request body is too large"),
    RateLimited: (429, "rate-limited", "Too many requests"),
    UnknownItem: (404, "unknown-item", "Unknown item"),
    InvalidFeatures: (422, "invalid-features", "Invalid item features"),
    BundleRefused: (422, "bundle-refused", "The bundle cannot be rolled out"),
    RolloutConflict: (409, "rollout-conflict", "The rollout cannot do that now"),
    StoreUnavailable: (503, "store-unavailable", "Redis is unavailable"),
    ModelNotReady: (503, "not-ready", "The service is not ready"),
    BundleError: (503, "bundle-error", "The bundle cannot be served"),
    IndexUnavailable: (503, "index-unavailable", "The index cannot be built"),
    ServiceError: (500, "service-error", "Service error"),
}
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")  # Allow order
HTTP_SLUGS = {
    400: "invalid-request",  # e.g. a body the parser gives up on (nesting too deep)
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
}


def problem_for(exc: Exception) -> tuple[int, str, str]:
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return 500, "internal-error", "Internal server error"


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The one writer of problem documents; also counts them by type."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.problems.labels(slug).inc()
    body = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    if status == 503:
        headers = {"Retry-After": "1", **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    status, slug, title = problem_for(exc)
    headers = exc.headers if isinstance(exc, ServiceError) else None
    return problem_response(request, status, slug, title, str(exc) or title, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()[:20]
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response(
        request, 422, "validation-error", "Request validation failed", detail, errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = HTTP_SLUGS.get(exc.status_code, "http-error")
    title = slug.replace("-", " ").capitalize()
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every method of the path, not only the first matching route's
        headers["Allow"] = ", ".join(_allowed(request))
    return problem_response(request, exc.status_code, slug, title, str(exc.detail), headers)


def _allowed(request: Request) -> list[str]:
    """The methods some route of the app takes at this path. Asked of each route through
    Starlette's `matches` (a full match for that method), so routers FastAPI wraps when they
    are included (0.165: `_IncludedRouter`, without `path_regex` or `methods`) answer too."""
    base = {
        "type": "http",
        "path": request.scope["path"],
        "root_path": request.scope.get("root_path", ""),
        "headers": [],
    }
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**base, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return problem_response(
        request, 500, "internal-error", "Internal server error", "an unexpected error was logged"
    )


def problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` that documents every 4xx/5xx body as application/problem+json (FastAPI
    would list the Problem model under application/json)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            for path in schema.get("paths", {}).values():
                for op in path.values():
                    for code, response in op.get("responses", {}).items():
                        content = response.get("content", {})
                        if str(code)[0] in "45" and "application/json" in content:
                            content[MEDIA_TYPE] = content.pop("application/json")
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def install(app: FastAPI) -> None:
    """Register the handlers: domain errors, validation, HTTP errors, anything else."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(BundleError, _service_error)  # not a ServiceError: bundle/
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.openapi = problem_openapi(app)  # type: ignore[method-assign]
