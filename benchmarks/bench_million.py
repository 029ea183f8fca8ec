r"""A million registered items (issue 15 item 2): registration throughput, start-up time, RSS and
search latency with exact search and with the IVF index, recall@20 of IVF against exact.

Not part of the test suite. It writes a bundle through `bundle.writer` (dim 384, a text modality
of 384, an untrained projector of the real shape; the bundle's items and users are the
projector's outputs over features drawn like the registered ones, so the IVF centroids, trained
on the bundle's items, fit the registered items as a trained projector's would), then against
Redis (a namespace of its own, deleted at the end):

1. starts `python -m coldrec serve` on an empty namespace (start-up time without registered
   items), registers `--items` items by features through `POST /items`, `--batch` a request,
   from `--connections` concurrent connections (items/s, request latency, server RSS, Redis
   memory);
2. reads the served embeddings back from Redis (the cache under the bundle's digest) and times
   the raw floor, `faiss.knn` of one query over the whole served matrix on one thread; computes
   the exact top-20 of `--queries` users in this process (the truth recall is measured against);
3. restarts the server on the same bundle (warm cache: no projection), exact search: start-up
   time to `/readyz`, RSS, recommendation latency p50/p99 over one connection, recall@20;
4. restarts with `COLDREC_INDEX_TYPE=ivf` for each `--nprobe`: the same figures;
5. with `--bundle-change`: starts on a second bundle (another projector, same dataset), which
   re-projects every registered item once and caches them, then restarts on it (warm cache);
6. restarts on the first bundle and times `--deletes` DELETE /items one after another.

    OMP_NUM_THREADS=1 flock /tmp/coldrec-bench.lock nice -n 5 .venv/bin/python \
        benchmarks/bench_million.py --items 1000000 --out docs/results/bench_million.json

The client (this process) and the server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import httpx
import numpy as np
import orjson
import redis
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_service import DIM, free_port  # noqa: E402

from bundle.reader import Bundle, load_bundle  # noqa: E402
from bundle.writer import write_bundle as write_bundle_files  # noqa: E402
from models.config import ProjectorConfig  # noqa: E402
from models.projection import ModalProjector, project_features  # noqa: E402

K = 20
TOPICS = 1000  # content clusters of the generated features
NOISE = 1.0  # within-topic noise, as large as the topic's centre (IVF recall is not trivial)
SEEN = 20  # training items per bundle user (excluded from their recommendations)


class Content:
    """Seeded item features: a topic centre plus noise, [n, 384], batch by batch."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.centres = np.random.default_rng(seed).standard_normal((TOPICS, DIM), np.float32)

    def batch(self, b: int, n: int, stream: int = 1) -> np.ndarray:
        """The features of batch `b` of stream `stream` (deterministic): [n, DIM] float32."""
        rng = np.random.default_rng((self.seed, stream, b))
        noise = rng.standard_normal((n, DIM), np.float32)
        return self.centres[rng.integers(0, TOPICS, n)] + NOISE * noise


def write_bundle(root: Path, n_items: int, n_users: int, projector_seed: int) -> None:
    """A bundle whose items and users are `projector_seed`'s projector over generated features."""
    torch.manual_seed(projector_seed)
    projector = ModalProjector({"text": DIM}, DIM, ProjectorConfig()).eval()
    content = Content()
    items = project_features(projector, {"text": content.batch(0, n_items, stream=0)})
    users = project_features(projector, {"text": content.batch(1, n_users, stream=0)})
    seen = np.random.default_rng(2).integers(0, n_items, (n_users, SEEN))  # [U, SEEN]
    write_bundle_files(
        root,
        users=users,
        items=items,
        user_ids=[f"u{u}" for u in range(n_users)],
        item_ids=[f"i{i}" for i in range(n_items)],
        seen=(np.arange(0, SEEN * n_users + 1, SEEN), seen.ravel()),
        projector=projector,
        model="random",
        dataset="bench-million",
        modal_dims={"text": DIM},
        code_version="bench",
    )


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """`python -m coldrec serve` with `env`; `ready_s` is launch to `/readyz` 200."""

    def __init__(self, bundle: Path, env: dict[str, str], log: Path, deadline_s: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "coldrec", "serve", "--bundle", str(bundle)]
        launched = time.perf_counter()
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*cmd, "--port", str(self.port)],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=out,
                stderr=out,
            )
        try:
            ready = self._wait(deadline_s)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.perf_counter() - launched
        self.sizes = ready.json()["items"]
        self.rss_ready_mib = rss_mib(self.proc.pid)

    def _wait(self, deadline_s: float) -> httpx.Response:
        deadline = time.monotonic() + deadline_s
        with httpx.Client(base_url=self.url, timeout=30) as poll:
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    ready = poll.get("/readyz")
                    if ready.status_code == 200:
                        return ready
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"the service did not start: {self.log.read_text()[-3000:]}")

    def rss(self) -> dict[str, float]:
        return {
            "rss_mib": round(rss_mib(self.proc.pid), 1),
            "peak_rss_mib": round(rss_mib(self.proc.pid, "VmHWM"), 1),
        }

    def stop(self) -> None:
        self.proc.terminate()  # uvicorn leaves once the start (in C code, e.g. IVF) returns
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def register(url: str, n: int, batch: int, connections: int) -> dict[str, Any]:
    """POST /items in batches of `batch` from `connections` connections: items/s, latency."""
    content = Content()
    n_batches = math.ceil(n / batch)
    todo = iter(range(n_batches))
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=connections)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def worker() -> None:
            for b in todo:
                size = min(batch, n - b * batch)
                feats = content.batch(b, size)
                items = [
                    {"id": f"m{b * batch + j}", "features": {"text": feats[j]}} for j in range(size)
                ]
                body = orjson.dumps({"items": items}, option=orjson.OPT_SERIALIZE_NUMPY)
                t = time.perf_counter()
                r = await client.post("/items", content=body, headers=headers)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 201:
                    errors.append(f"batch {b}: {r.status_code} {r.text[:300]}")
                if len(latencies) % 50 == 0:
                    done = len(latencies) * batch
                    rate = done / (time.perf_counter() - start)
                    progress(f"registered ~{done:,} items, {rate:,.0f} items/s")

        await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    lat = np.asarray(latencies) * 1e3
    return {
        "items": n,
        "batch": batch,
        "connections": connections,
        "seconds": round(elapsed, 1),
        "items_per_s": round(n / elapsed, 1),
        "request_p50_ms": round(float(np.percentile(lat, 50)), 1),
        "request_p99_ms": round(float(np.percentile(lat, 99)), 1),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def served_matrix(
    client: redis.Redis, namespace: str, bundle: Bundle
) -> tuple[np.ndarray, list[str]]:
    """The matrix the service searches: the bundle's items, then the registered items' cached
    embeddings for the bundle's digest (read from Redis, as the restarted service reads them)."""
    key = f"{namespace}:emb:{bundle.digest}"
    n_bundle = len(bundle.items)
    matrix = np.empty((n_bundle + int(client.hlen(key)), DIM), np.float32)  # [n, DIM]
    matrix[:n_bundle] = bundle.items
    names = list(bundle.item_ids.ids)
    for name, emb in client.hscan_iter(key, count=5000):
        matrix[len(names)] = np.frombuffer(emb, dtype="<f4")
        names.append(name.decode())
    return matrix[: len(names)], names


def exact_truth(
    matrix: np.ndarray, names: list[str], bundle: Bundle, users: list[int]
) -> list[list[str]]:
    """Exact top-K of each user's embedding over `matrix`, their training items excluded."""
    embs = np.ascontiguousarray(bundle.users[users])
    _, rows = faiss.knn(embs, matrix, K + SEEN, metric=faiss.METRIC_INNER_PRODUCT)
    out = []
    for q, u in enumerate(users):
        seen = set(bundle.seen(u).tolist())
        out.append([names[r] for r in rows[q] if r not in seen][:K])
    return out


def raw_floor(matrix: np.ndarray, query: np.ndarray, repeats: int = 20) -> dict[str, float]:
    """`faiss.knn` of one query over `matrix` on one thread: median and best, ms."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        faiss.knn(query[None, :], matrix, K, metric=faiss.METRIC_INNER_PRODUCT)
        times.append(time.perf_counter() - t)
    faiss.omp_set_num_threads(threads)
    return {
        "rows": len(matrix),
        "faiss_1q_median_ms": round(float(np.median(times[1:])) * 1e3, 2),
        "faiss_1q_min_ms": round(float(np.min(times[1:])) * 1e3, 2),
    }


def searches(url: str, users: list[int], truth: list[list[str]]) -> dict[str, Any]:
    """GET recommendations (k=K) for each user over one connection: latency and recall@K."""
    latencies, recalls = [], []
    with httpx.Client(base_url=url, timeout=120) as http:
        for u in users[:10]:  # warm-up
            http.get(f"/users/u{u}/recommendations", params={"k": K})
        for u, want in zip(users, truth, strict=True):
            t = time.perf_counter()
            r = http.get(f"/users/u{u}/recommendations", params={"k": K})
            latencies.append(time.perf_counter() - t)
            got = {item["item_id"] for item in r.json()["items"]}
            recalls.append(len(got & set(want)) / len(want))
    lat = np.asarray(latencies) * 1e3
    return {
        "queries": len(users),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "recall_at_20": round(float(np.mean(recalls)), 4),
        "min_recall_at_20": round(float(np.min(recalls)), 3),
    }


def deletions(url: str, n: int, registered: int) -> dict[str, Any]:
    """DELETE /items/{id} of `n` registered items one after another, exact search: a removal
    marks a row dead, and every `COLDREC_COMPACT_AFTER` (512) of them the kind is compacted."""
    ids = np.random.default_rng(4).choice(registered, n, replace=False)
    latencies, errors = [], 0
    with httpx.Client(base_url=url, timeout=600) as http:
        for j in ids.tolist():
            t = time.perf_counter()
            errors += http.delete(f"/items/m{j}").status_code != 204
            latencies.append(time.perf_counter() - t)
    lat = np.asarray(latencies) * 1e3
    return {
        "deletes": n,
        "errors": errors,
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "max_ms": round(float(lat.max()), 1),
    }


def restart(
    name: str, bundle: Path, env: dict[str, str], args: argparse.Namespace, work: Path
) -> tuple[Server, dict[str, Any]]:
    progress(f"starting: {name}")
    server = Server(bundle, env, work / f"{name}.log", args.start_deadline)
    row = {
        "start_to_ready_s": round(server.ready_s, 2),
        "index_items": server.sizes,
        "rss_at_ready_mib": round(server.rss_ready_mib, 1),
    }
    progress(f"{name}: ready in {server.ready_s:.1f} s, {server.sizes}")
    return server, row


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    ns = f"million{os.getpid()}"
    client = redis.Redis.from_url(args.redis_url)
    base = {"COLDREC_REDIS_URL": args.redis_url, "COLDREC_NAMESPACE": ns}
    bundle_a = work / "bundle-a"
    progress(f"writing the bundle ({args.bundle_items:,} items)")
    write_bundle(bundle_a, args.bundle_items, args.users, projector_seed=0)
    out: dict[str, Any] = {"namespace": ns}
    try:
        server, out["start_empty"] = restart("empty", bundle_a, base, args, work)
        try:
            out["register"] = asyncio.run(
                register(server.url, args.items, args.batch, args.connections)
            )
            out["register"].update(server.rss())
            out["register"]["redis_used_memory_mib"] = round(
                int(client.info("memory")["used_memory"]) / 2**20, 1
            )
        finally:
            server.stop()
        resyncs = (work / "empty.log").read_text().count("stream trimmed past")
        out["register"]["follower_full_replays"] = resyncs
        progress(f"registration: {out['register']}")
        loaded = load_bundle(bundle_a)
        matrix, names = served_matrix(client, ns, loaded)
        users = np.random.default_rng(3).choice(args.users, args.queries, replace=False).tolist()
        out["raw_floor"] = raw_floor(matrix, loaded.users[users[0]])
        truth = exact_truth(matrix, names, loaded, users)
        del matrix, names
        progress(f"raw floor: {out['raw_floor']}")

        configs = [("exact", {})] + [
            (
                f"ivf-nprobe{p}",
                {
                    "COLDREC_INDEX_TYPE": "ivf",
                    "COLDREC_IVF_NPROBE": str(p),
                    "COLDREC_IVF_NLIST": str(args.nlist),
                },
            )
            for p in args.nprobe
        ]
        out["restarts"] = {}
        for name, extra in configs:
            server, row = restart(name, bundle_a, {**base, **extra}, args, work)
            try:
                row.update(searches(server.url, users, truth))
                row.update(server.rss())
            finally:
                server.stop()
            out["restarts"][name] = row
            progress(f"{name}: {row}")

        if args.bundle_change:
            bundle_b = work / "bundle-b"
            write_bundle(bundle_b, args.bundle_items, args.users, projector_seed=1)
            for name in ("bundle-change", "bundle-change-restart"):
                server, row = restart(name, bundle_b, base, args, work)
                row.update(server.rss())
                server.stop()
                out["restarts"][name] = row
                progress(f"{name}: {row}")
        if args.deletes:
            server, _ = restart("deletes", bundle_a, base, args, work)
            try:
                out["deletes"] = deletions(server.url, args.deletes, args.items)
            finally:
                server.stop()
            progress(f"deletes: {out['deletes']}")
    finally:
        drop_namespace(client, ns)
    return out


def drop_namespace(client: redis.Redis, ns: str) -> None:
    """UNLINK every key of the benchmark's namespace."""
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{ns}:*", count=10_000):
        batch.append(key)
        if len(batch) == 10_000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)
    progress(f"namespace {ns} deleted")


def render(result: dict[str, Any], command: str) -> str:
    """The Markdown table of a run's JSON: what docs/results/bench_million.md holds."""
    reg, floor = result["register"], result["raw_floor"]
    rows = result["restarts"]
    lines = [
        "# A million registered items (issue 15 item 2)",
        "",
        f"`{command}`",
        "",
        f"Machine: {result['machine']}; load average at the end {result['load_average_at_end']}"
        f" (other jobs shared the cores); {result['wall_s'] / 60:.0f} min. Server and client on"
        " the same box, one OpenMP thread each (`OMP_NUM_THREADS=1`).",
        "",
        f"Registration: {reg['items']:,} items by features (384 floats) through `POST /items`,"
        f" {reg['batch']} a request, {reg['connections']} connections: **{reg['items_per_s']:,.0f}"
        f" items/s**, request p50 {reg['request_p50_ms']:,.0f} ms, p99"
        f" {reg['request_p99_ms']:,.0f} ms, {reg['errors']} errors, server RSS after"
        f" {reg['rss_mib'] / 1024:.2f} GiB, Redis {reg['redis_used_memory_mib'] / 1024:.2f} GiB,"
        f" {reg['follower_full_replays']} follower full replays. Start-up on the empty state"
        f" {result['start_empty']['start_to_ready_s']} s.",
        "",
        f"Raw floor: `faiss.knn`, one query, one thread, over the served {floor['rows']:,} x 384"
        f" matrix: {floor['faiss_1q_median_ms']} ms median ({floor['faiss_1q_min_ms']} best).",
        "",
        "| start | index | start to `/readyz` s | RSS GiB | p50 ms | p99 ms | recall@20 vs exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        cells = [
            name,
            f"{row['index_items']['warm']:,} warm + {row['index_items']['cold']:,} cold",
            f"{row['start_to_ready_s']}",
            f"{row['rss_mib'] / 1024:.2f}",
            f"{row.get('p50_ms', '-')}",
            f"{row.get('p99_ms', '-')}",
            f"{row.get('recall_at_20', '-')}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`exact`: a restart on the same bundle (the cached embeddings, nothing projected), flat"
        " exact search; `ivf-nprobeN`: the same with `COLDREC_INDEX_TYPE=ivf`,"
        " `COLDREC_IVF_NPROBE=N` (lists by the service's rule, 4 sqrt(n) of the bundle's n items,"
        " at most n/39; trained at start on the bundle's items); `bundle-change`: the first start"
        " on a second bundle of the same dataset (another projector), which re-projects every"
        " registered item once and caches it; `bundle-change-restart`: a restart on it (its"
        " cache). Latency: GET recommendations, k=20, one connection, for"
        f" {rows['exact']['queries']} bundle users; recall@20 against the exact top-20 computed"
        " in the benchmark process over the served matrix (their training items excluded).",
    ]
    if "deletes" in result:
        d = result["deletes"]
        lines += [
            "",
            f"DELETE /items/{{id}}, {d['deletes']} one after another (exact index): p50"
            f" {d['p50_ms']} ms, p99 {d['p99_ms']} ms, max {d['max_ms']} ms, {d['errors']} errors.",
        ]
    return "\n".join(lines) + "\n"


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every option's default."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_Help)
    parser.add_argument("--items", type=int, default=1_000_000, help="items to register")
    parser.add_argument(
        "--bundle-items",
        type=int,
        default=20_000,
        help="items in the bundle (they train the IVF centroids: 4 sqrt(n) lists, at most n/39)",
    )
    parser.add_argument("--users", type=int, default=2000, help="users in the bundle")
    parser.add_argument("--batch", type=int, default=1000, help="items per POST /items")
    parser.add_argument("--connections", type=int, default=4, help="concurrent client conns")
    parser.add_argument("--queries", type=int, default=300, help="users searched per config")
    parser.add_argument("--nprobe", type=int, nargs="*", default=[16, 32, 64], help="IVF nprobes")
    parser.add_argument("--deletes", type=int, default=600, help="DELETE /items timed at the end")
    parser.add_argument("--nlist", type=int, default=0, help="IVF lists (0: the service's rule)")
    parser.add_argument(
        "--bundle-change",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also start on a second bundle (re-projects every registered item once)",
    )
    parser.add_argument("--start-deadline", type=float, default=3600, help="seconds to ready")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="Redis to use")
    parser.add_argument("--out", type=Path, help="write the JSON result here")
    parser.add_argument("--md", type=Path, help="write the Markdown table here")
    parser.add_argument(
        "--render", type=Path, help="only write --md from this JSON of a finished run"
    )
    args = parser.parse_args()
    command = "OMP_NUM_THREADS=1 ... " + " ".join(sys.argv)
    if args.render:
        result = json.loads(args.render.read_text())
        args.md.write_text(render(result, result.get("command", command)))
        return
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "command": command,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            **run(args, Path(tmp)),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "wall_s": round(time.time() - started, 1),
        }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.md:
        args.md.write_text(render(result, command))


if __name__ == "__main__":
    main()
