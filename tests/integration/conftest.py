"""Integration fixtures: real uvicorn processes (the suite's own Redis, `redis_url`, is in
tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # the tiny-bundle helper

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """`coldrec serve` (the one way to start the server) in a subprocess, with a client."""

    def __init__(self, bundle: Path, env: dict[str, str], log: Path) -> None:
        self.bundle, self.env, self.log = bundle, env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=60)  # generous: a loaded 2-core box

    def start(self, timeout: float = 60) -> ServiceProcess:
        cmd = [*coldrec_command(), "serve", "--bundle", str(self.bundle), "--port", str(self.port)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", **self.env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {self.log.read_text()[-3000:]}")
            try:
                if self.http.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"service not ready: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
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
    started: list[ServiceProcess], bundle: Path, env: dict[str, str], log: Path
) -> ServiceProcess:
    svc = ServiceProcess(bundle, env, log)
    started.append(svc)
    return svc.start()
