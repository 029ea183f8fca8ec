"""Access control and limits: API keys (constant-time), per-key rate limits in Redis, body size."""

from __future__ import annotations

import hashlib
import hmac
import time

import redis
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import Forbidden, RateLimited, Unauthorized
from service.problems import problem_response
from service.settings import Settings


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    return key or None


def _matches(given: str, keys: list[str]) -> bool:
    """Whether `given` is one of `keys`, comparing with every key in constant time each.

    The SHA-256 digests are compared, so the time does not depend on the keys' lengths either.
    """
    mine = hashlib.sha256(given.encode()).digest()
    ok = False
    for key in keys:  # no early exit: the time does not tell which key (or how much) matched
        ok |= hmac.compare_digest(mine, hashlib.sha256(key.encode()).digest())
    return ok


def _check_key(request: Request, keys: list[str], read_only: list[str]) -> str | None:
    """The valid key presented (None when no keys are configured); 401 or 403 otherwise.

    `keys` grant this endpoint; `read_only` keys are valid but insufficient here (403).
    """
    if not keys:
        return None
    given = _presented_key(request)
    if given is None:
        raise Unauthorized("this endpoint needs an API key in the X-API-Key header")
    if _matches(given, keys):
        return given
    if _matches(given, read_only):
        raise Forbidden("this API key may only read")
    raise Forbidden("the API key is not valid")


def rate_window() -> int:
    """The rate limit's current window: the wall-clock second (tests pin it)."""
    return int(time.time())


def _rate_limit(request: Request, settings: Settings, key: str | None) -> None:
    """At most `rate_limit_per_s` requests per key (or client address) per second, in Redis."""
    limit = settings.rate_limit_per_s
    engine = getattr(request.app.state, "engine", None)
    if not limit or engine is None:
        return
    who = key or (request.client.host if request.client else "anonymous")
    identity = hashlib.sha256(who.encode()).hexdigest()[:16]  # keys never reach Redis in clear
    second = rate_window()
    name = engine.store.keys.rate(identity, second)
    try:
        pipe = engine.store.client.pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, 2)
        count = int(pipe.execute()[0])
    except redis.RedisError:
        request.app.state.metrics.redis_errors.labels("rate_limit").inc()
        return  # fail open: a Redis outage must not take reads down with it
    if count > limit:
        raise RateLimited(f"more than {limit} requests in one second")


async def require_write(request: Request) -> None:
    """Dependency of POST/DELETE routes: a write key when keys are configured, then the limit."""
    settings: Settings = request.app.state.settings
    key = _check_key(request, settings.key_list(), settings.read_key_list())
    await _limit(request, settings, key)


async def require_read(request: Request) -> None:
    """Dependency of read routes: a key (write or read-only) with `protect_reads`; the limit."""
    settings: Settings = request.app.state.settings
    if settings.protect_reads:
        key = _check_key(request, settings.key_list() + settings.read_key_list(), [])
    else:
        key = _presented_key(request)
    await _limit(request, settings, key)


async def _limit(request: Request, settings: Settings, key: str | None) -> None:
    """The rate limit, in the threadpool (it talks to Redis); nothing at all when it is off.

    The dependencies are async so that a request with the limit off costs no thread hop.
    """
    if settings.rate_limit_per_s:
        await run_in_threadpool(_rate_limit, request, settings, key)


class BodyLimit:
    """ASGI middleware: refuse a body over `max_bytes` with a 413 problem before any route runs.

    The body is read (up to the limit) before the app sees it, so a chunked body without
    Content-Length is refused the same way.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        too_large = length.isdigit() and int(length) > self.max_bytes
        chunks: list[bytes] = []
        size, more = 0, not too_large
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False) and size <= self.max_bytes
        if too_large or size > self.max_bytes:
            request = Request(scope)
            response = problem_response(
                request,
                413,
                "payload-too-large",
                "The request body is too large",
                f"the request body is over {self.max_bytes} bytes",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(b"".join(chunks)), send)


def _replay(body: bytes) -> Receive:
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return wrapped
