"""Service benchmark: latency and throughput of recommendations and registrations over HTTP.

Not part of the test suite. For each catalogue size it writes a bundle (random clustered
embeddings, dim 384, a text modality of 384 and an untrained projector of the real shape), starts
`python -m coldrec serve` on it against Redis, and drives it from this process with asyncio
(httpx) at several concurrencies. In the same run it times the raw FAISS search over the same
matrix (one query, `faiss.knn`, and a 32-query batch through torch as the service batches it):
the floor that end-to-end latency is compared with; and, in this process, `Engine.recommend` and
`Catalogue.search` without HTTP (the part of the latency the service's own code controls).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_service.py --items 10000 100000 \
        --concurrency 1 4 16 --seconds 3 --out docs/results/bench_service.json

Client and server share the machine's cores: the figures are a lower bound on what the server
alone could do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import httpx
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bundle.writer import write_bundle as write_bundle_files  # noqa: E402
from models.config import ProjectorConfig  # noqa: E402
from models.projection import ModalProjector  # noqa: E402

DIM = 384
K = 20


def write_bundle(root: Path, n_items: int, n_users: int = 2000, seed: int = 0) -> None:
    """A bundle (through `bundle.writer`) with clustered random embeddings (no training) and an
    untrained projector of the real shape."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((64, DIM)).astype(np.float32)
    items = centers[rng.integers(0, 64, n_items)] + rng.standard_normal((n_items, DIM)).astype(
        np.float32
    )
    users = centers[rng.integers(0, 64, n_users)] + rng.standard_normal((n_users, DIM)).astype(
        np.float32
    )
    seen = rng.integers(0, n_items, (n_users, 20)).astype(np.int64)  # [U, 20]
    torch.manual_seed(seed)
    write_bundle_files(
        root,
        users=users / np.sqrt(DIM),
        items=items / np.sqrt(DIM),
        user_ids=[f"u{u}" for u in range(n_users)],
        item_ids=[f"i{i}" for i in range(n_items)],
        seen=(np.arange(0, 20 * n_users + 1, 20), seen.ravel()),
        projector=ModalProjector({"text": DIM}, DIM, ProjectorConfig()),
        model="random",
        dataset=f"bench-{n_items}",
        modal_dims={"text": DIM},
        code_version="bench",
    )


def raw_floor(bundle: Path, repeats: int = 30) -> dict[str, float]:
    """Raw exact search over the bundle's items, median and best of `repeats`: one query through
    faiss (the service's single-request path) and a 32-query batch through torch."""
    items = np.load(bundle / "items.npy")
    q1 = np.ascontiguousarray(items[:1] * 1.01)
    q32 = torch.from_numpy(np.ascontiguousarray(items[:32] * 1.01))
    x = torch.from_numpy(items)
    out: dict[str, float] = {}
    for name, fn in (
        ("faiss_1q", lambda: faiss.knn(q1, items, K, metric=faiss.METRIC_INNER_PRODUCT)),
        ("torch_32q", lambda: torch.topk(q32 @ x.T, K, dim=1)),
    ):
        out.update(_timed(name, fn, repeats))
    return out


def _timed(name: str, fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median and best of `repeats` calls of `fn` after one warm-up call, in ms."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {
        f"{name}_median_ms": float(np.median(times) * 1e3),
        f"{name}_min_ms": float(np.min(times) * 1e3),
    }


def in_process(
    bundle: Path, redis_url: str, namespace: str, repeats: int = 300
) -> dict[str, float]:
    """The part the service controls, without HTTP: `Engine.recommend` (user lookup, seen-item
    exclusion, the batcher thread, filtering, id mapping, the write-behind of the list) and
    `Catalogue.search` alone, for one request at a time; median and best of `repeats`."""
    from service.index import Query
    from service.metrics import Metrics
    from service.runtime import Runtime
    from service.settings import Settings

    runtime = Runtime.start(
        Settings(bundle=bundle, redis_url=redis_url, namespace=namespace), Metrics()
    )
    engine = runtime.engine
    out: dict[str, float] = {}
    try:
        vector, _, exclude = engine.user_vector("u1")
        query = Query(vector, K, "all", exclude)
        n = iter(range(10**9))
        for name, fn in (
            ("engine_recommend", lambda: engine.recommend(f"u{next(n) % 2000}", K, "all")),
            ("catalogue_search", lambda: engine.catalogue.search([query])),
        ):
            out.update(_timed(name, fn, repeats))
    finally:
        runtime.stop()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(bundle: Path, redis_url: str, namespace: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "COLDREC_REDIS_URL": redis_url, "COLDREC_NAMESPACE": namespace}
    proc = subprocess.Popen(
        [sys.executable, "-m", "coldrec", "serve", "--bundle", str(bundle), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the service did not become ready")


async def drive(url: str, make_request, concurrency: int, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """`concurrency` workers send requests back to back for `seconds`; latency percentiles."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker(w: int) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await make_request(client, w, n)
                latencies.append(time.perf_counter() - t)
                errors += r.status_code >= 400
                n += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
    lat = np.asarray(latencies) * 1e3
    return {
        "concurrency": concurrency,
        "requests": len(lat),
        "errors": errors,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "throughput_rps": len(lat) / elapsed,
    }


def run_size(n_items: int, args: argparse.Namespace, work: Path) -> dict[str, object]:
    bundle = work / f"bundle-{n_items}"
    write_bundle(bundle, n_items)
    floor = raw_floor(bundle)
    engine = in_process(bundle, args.redis_url, f"benchin{n_items}-{os.getpid()}")
    floor_after = raw_floor(bundle)  # the machine is shared: the floor again, after
    proc, url = start_server(bundle, args.redis_url, f"bench{n_items}-{os.getpid()}")
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((256, DIM)).astype(np.float32).tolist()
    try:

        async def recommend(client: httpx.AsyncClient, w: int, n: int) -> httpx.Response:
            return await client.get(
                f"/users/u{(w * 7919 + n) % 2000}/recommendations", params={"k": K}
            )

        async def register(client: httpx.AsyncClient, w: int, n: int) -> httpx.Response:
            body = {"id": f"new-{w}-{n}", "features": {"text": feats[(w + n) % 256]}}
            return await client.post("/items", json=body)

        recs = [asyncio.run(drive(url, recommend, c, args.seconds)) for c in args.concurrency]
        regs = [asyncio.run(drive(url, register, c, args.seconds)) for c in args.concurrency]
        servable = _servable(url)
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "items": n_items,
        "raw_floor": floor,
        "raw_floor_after": floor_after,
        "in_process": engine,
        "recommend": recs,
        "register": regs,
        "registration_to_servable": servable,
    }


def _servable(url: str) -> dict[str, float]:
    """Registration-to-servable on the replica that took the write, from the service's own
    histogram (a POST answers only once its item is in the index, so this is also the floor of
    the POST latency)."""
    text = httpx.get(url + "/metrics").text
    vals = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("coldrec_registration_to_servable_seconds_")
    }
    total = vals.get('coldrec_registration_to_servable_seconds_sum{path="local"}', 0.0)
    count = vals.get('coldrec_registration_to_servable_seconds_count{path="local"}', 0.0)
    return {"mean_ms": total / max(count, 1.0) * 1e3, "registrations": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_size(n, args, Path(tmp)) for n in args.items]
    for r in results:
        print(f"\n{r['items']:,} items; raw floor: {r['raw_floor']}")
        print(f"raw floor again: {r['raw_floor_after']}")
        print(f"in process: {r['in_process']}")
        print(f"registration to servable: {r['registration_to_servable']}")
        for name in ("recommend", "register"):
            for row in r[name]:  # type: ignore[attr-defined]
                print(
                    f"  {name:9s} c={row['concurrency']:>3} p50 {row['p50_ms']:7.2f} ms  "
                    f"p99 {row['p99_ms']:7.2f} ms  {row['throughput_rps']:7.1f} req/s  "
                    f"errors {row['errors']}"
                )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
