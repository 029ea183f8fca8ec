"""Fuzz the service with schemathesis against its own OpenAPI schema, over real HTTP.

Bounded examples per operation; every response must be no 5xx and conform to the schema
(status code documented, content type, body schema). Domain validation (feature dimensions,
unknown ids) legitimately refuses schema-valid data, so `positive_data_acceptance` is off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServiceProcess
from external import RedisServer
from service_bundle import write_bundle

from service.main import create_app
from service.settings import Settings

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

EXAMPLES = int(os.environ.get("COLDREC_FUZZ_EXAMPLES", "40"))  # per operation


@pytest.fixture(scope="module")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("fuzz")
    tiny = write_bundle(root / "bundle", fit_steps=20)
    env = {"COLDREC_REDIS_URL": redis_server.url, "COLDREC_NAMESPACE": f"fuzz{os.getpid()}"}
    svc = ServiceProcess(tiny.path, env, Path(root / "serve.log")).start()
    yield svc
    svc.stop()


# Building an app does no I/O (the lifespan is not run): its schema is what the server serves.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails(case, fuzz_server: ServiceProcess) -> None:  # type: ignore[no-untyped-def]
    # A generous read timeout (schemathesis's default is 10 s): on a loaded 2-core box the first
    # raw-text item may wait for MiniLM; speed is measured in benchmarks/, never here.
    case.call_and_validate(
        base_url=fuzz_server.url, excluded_checks=[positive_data_acceptance], timeout=120
    )
