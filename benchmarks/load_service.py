"""Load test: a bounded run of mixed reads, writes and interactions against one service process.

Not part of the test suite. Starts `coldrec serve` on a generated bundle (see
bench_service.py), then drives it from this process over loopback for `--seconds` with
`--concurrency` workers: 70% recommendations, 20% interactions (half on items just recommended,
so hits happen), 8% registrations, 2% retirements. Reports errors (any 5xx or transport error),
latency percentiles per kind, and the server's resident memory sampled every 5 s (flat is good).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/load_service.py --items 10000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import DIM, start_server, write_bundle  # noqa: E402


async def run(url: str, pid: int, seconds: float, concurrency: int) -> dict[str, object]:
    lat: dict[str, list[float]] = {"recommend": [], "interact": [], "register": [], "retire": []}
    status: dict[int, int] = {}
    transport_errors = 0
    registered: list[str] = []
    rss: list[float] = []
    proc = psutil.Process(pid)
    stop = time.perf_counter() + seconds
    feats = np.random.default_rng(0).standard_normal((64, DIM)).astype(np.float32).tolist()

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        nonlocal transport_errors
        rng = random.Random(w)
        n = 0
        while time.perf_counter() < stop:
            user = f"u{rng.randrange(2000)}"
            roll = rng.random()
            t = time.perf_counter()
            try:
                if roll < 0.70:
                    kind = "recommend"
                    r = await client.get(f"/users/{user}/recommendations", params={"k": 20})
                    if r.status_code == 200 and r.json()["items"] and rng.random() < 0.15:
                        item = r.json()["items"][0]["item_id"]
                        await client.post("/interactions", json={"user_id": user, "item_id": item})
                elif roll < 0.90:
                    kind = "interact"
                    item = f"i{rng.randrange(10_000)}"
                    r = await client.post("/interactions", json={"user_id": user, "item_id": item})
                elif roll < 0.98 or not registered:
                    kind = "register"
                    item_id = f"load-{w}-{n}"
                    body = {"id": item_id, "features": {"text": feats[n % 64]}}
                    r = await client.post("/items", json=body)
                    if r.status_code == 201:
                        registered.append(item_id)
                else:
                    kind = "retire"
                    r = await client.delete(
                        f"/items/{registered.pop(rng.randrange(len(registered)))}"
                    )
            except httpx.TransportError:
                transport_errors += 1
                continue
            lat[kind].append(time.perf_counter() - t)
            status[r.status_code] = status.get(r.status_code, 0) + 1
            n += 1

    async def sample_memory() -> None:
        while time.perf_counter() < stop:
            rss.append(proc.memory_info().rss / 2**20)
            await asyncio.sleep(5)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.gather(sample_memory(), *(worker(w, client) for w in range(concurrency)))
    rss.append(proc.memory_info().rss / 2**20)
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "status_counts": status,
        "transport_errors": transport_errors,
        "server_errors": sum(c for s, c in status.items() if s >= 500),
        "latency_ms": {
            k: {"n": len(v), "p50": _pct(v, 50), "p99": _pct(v, 99)} for k, v in lat.items() if v
        },
        "rss_mib": [round(x, 1) for x in rss],
    }


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1e3, q)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        write_bundle(bundle, args.items)
        proc, url = start_server(bundle, args.redis_url, f"load{int(time.time())}")
        try:
            result = asyncio.run(run(url, proc.pid, args.seconds, args.concurrency))
        finally:
            proc.terminate()
            proc.wait(30)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
