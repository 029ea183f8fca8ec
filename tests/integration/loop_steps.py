"""The operator's steps of closing the loop (issue 14), shared by the integration tests: run a
real `coldrec` command, train a small `--deploy` run, the new products registered by text, and
client threads that keep asking running services while something changes under them, and
waits on what `GET /admin/bundle` reports."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from conftest import REPO, ServiceProcess, coldrec_command

NEW = {
    "sourdough-kit": "Sourdough starter kit with a proofing basket, rye flour and a bread lame",
    "arcade-stick": "Retro arcade stick for co-op boss battles and speedruns",
    "quiet-item": "Enamel camping mug for the trail",  # registered, never interacted with
}
TAKEN = ("sourdough-kit", "arcade-stick")
DEADLINE_S = 60  # liveness only: generous for a loaded 2-core box


def coldrec(args: list[str], env: dict[str, str]) -> str:
    """Run `coldrec ARGS` (the installed console script), assert it succeeded, its stdout."""
    done = subprocess.run(
        [*coldrec_command(), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def train_deploy(data: str, run: Path, env: dict[str, str]) -> None:
    """`coldrec train --deploy` of LightGCN, small enough to take seconds."""
    small = ["--epochs", "4", "--set", "model.dim=16", "--set", "train.projector_epochs=4"]
    coldrec(["train", "--data", data, "--model", "lightgcn", "--out", str(run), *small,
             "--deploy", "--quiet"], env)  # fmt: skip


def purchases(n_users: int = 40) -> list[dict[str, str]]:
    """u0..u{n-1} each buy one of `TAKEN` (odd users the first)."""
    return [
        {"user_id": f"u{u}", "item_id": TAKEN[0] if u % 2 else TAKEN[1], "event": "purchase"}
        for u in range(n_users)
    ]


Ask = Callable[[httpx.Client, ServiceProcess, int, int], httpx.Response]


def ask_recommendations(http: httpx.Client, svc: ServiceProcess, i: int, n: int) -> httpx.Response:
    """Client n's i-th request: a trained user's recommendations, every third a stranger's."""
    user = f"u{(i * 4 + n) % 20}" if i % 3 else f"stranger-{i}"
    return http.get(f"{svc.url}/users/{user}/recommendations", params={"k": 5})


class Clients:
    """Threads that ask the services back to back (`ask`, round robin over `services`),
    counting every answer (status code, or the transport error) and the times they were sent."""

    def __init__(
        self, services: list[ServiceProcess], n: int = 4, ask: Ask = ask_recommendations
    ) -> None:
        self.services, self.ask = services, ask
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, int | str]] = []
        self.threads = [
            threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(n)
        ]

    def _run(self, n: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = 0
            while not self.stop.is_set():
                svc = self.services[i % len(self.services)]
                sent = time.monotonic()
                try:
                    outcome: int | str = self.ask(http, svc, i, n).status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self.lock:
                    self.answers.append((sent, outcome))
                i += 1

    def __enter__(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)

    def sent_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t, _ in self.answers if start <= t <= end)

    def failures(self) -> list[int | str]:
        with self.lock:
            return [outcome for _, outcome in self.answers if outcome != 200]


def admin_state(svc: ServiceProcess) -> dict[str, Any]:
    """`GET /admin/bundle` of `svc` (asserted 200)."""
    r = svc.http.get("/admin/bundle")
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_for(
    services: list[ServiceProcess], check: Callable[[dict[str, Any]], bool], what: str
) -> None:
    """Until `check` holds for every service's `admin_state` (`DEADLINE_S`, else fail: `what`)."""
    deadline = time.monotonic() + DEADLINE_S
    while not all(check(admin_state(svc)) for svc in services):
        assert time.monotonic() < deadline, f"{what}: {[admin_state(s) for s in services]}"
        time.sleep(0.05)
