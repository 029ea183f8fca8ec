"""Integration fixtures: real uvicorn processes (the suite's own Redis, `redis_url`, is in
tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # the tiny-bundle helper

from external import free_port, stop_process, wait_http_ready  # noqa: E402
from service_bundle import TinyBundle, write_bundle  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    return write_bundle(tmp_path_factory.mktemp("run") / "bundle")


class ServiceProcess:
    """`coldrec serve` (the one way to start the server) in a subprocess, with a client."""

    def __init__(
        self, bundle: Path, env: dict[str, str], log: Path, args: tuple[str, ...] = ()
    ) -> None:
        self.bundle, self.env, self.log, self.args = bundle, env, log, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=60)  # generous: a loaded 2-core box

    def start(self, timeout: float = 60) -> ServiceProcess:
        cmd = [*coldrec_command(), "serve", "--bundle", str(self.bundle), "--port", str(self.port)]
        cmd += self.args
        env = {**os.environ, "OMP_NUM_THREADS": "1", **self.env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=out)
        wait_http_ready(self.proc, self.http, "/readyz", timeout, self.log, "service", tail=3000)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, 15, 5)
        self.http.close()


def coldrec_command() -> list[str]:
    """The installed `coldrec` console script next to this interpreter, else its module."""
    script = Path(sys.executable).parent / "coldrec"
    return [str(script)] if script.exists() else [sys.executable, "-m", "coldrec"]


@pytest.fixture()
def services(tmp_path: Path) -> Iterator[list[ServiceProcess]]:
    """A list to append started services to; all are stopped at the end."""
    started: list[ServiceProcess] = []
    yield started
    for svc in started:
        svc.stop()


def start_service(
    started: list[ServiceProcess],
    bundle: Path,
    env: dict[str, str],
    log: Path,
    args: tuple[str, ...] = (),
) -> ServiceProcess:
    svc = ServiceProcess(bundle, env, log, args)
    started.append(svc)
    return svc.start()
