"""Throughput and latency of GET /users/{id}/recommendations under wrk, beside the raw floor.

Not part of the test suite. For each catalogue size it writes a bundle with
`benchmarks/bench_service.py`'s writer (clustered random embeddings, dim 384, 2,000 users with
20 seen items each), measures the floor in this process (one exact query through `faiss.knn`
over the same matrix, one OpenMP thread: issue 15's yardstick), starts `coldrec serve` on it for
each index configuration asked (`--configs`, COLDREC_* settings), and drives it with wrk (a C
load generator, one thread) at each connection count, from the same machine. The floor is
measured again after the load runs, since the machine may be shared; the table quotes the
median of both. Writes the rows as JSON (`--out`) and the markdown table (`--table`).

    .venv/bin/python benchmarks/bench_wrk.py --items 10000 100000 \
        --out docs/results/bench_wrk.json --table docs/results/bench_wrk.md

Needs wrk on PATH (Debian: `apt-get install wrk`) and a Redis (default 127.0.0.1:6379, db 13, a
namespace of its own per server).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import httpx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import REPO, free_port, write_bundle  # noqa: E402

K = 20
N_USERS = 2000
LUA = """counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/users/u" .. (counter %% %(users)d) .. "/recommendations?k=%(k)d")
end
"""
# name -> (COLDREC_* settings, `coldrec serve --workers`) of one server configuration; with two
# workers on two cores each searches with one thread
CONFIGS: dict[str, tuple[dict[str, str], int]] = {
    "fp32": ({}, 1),
    "bf16": ({"COLDREC_INDEX_PRECISION": "bf16"}, 1),
    "ivf": ({"COLDREC_INDEX_TYPE": "ivf"}, 1),
    "fp32-w2": ({"COLDREC_SEARCH_THREADS": "1"}, 2),
    "bf16-w2": ({"COLDREC_INDEX_PRECISION": "bf16", "COLDREC_SEARCH_THREADS": "1"}, 2),
}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def floor_ms(items: np.ndarray, repeats: int = 40) -> float:
    """Median time of one exact top-20 query through faiss.knn over `items`, one thread."""
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(7)
    times = []
    for _ in range(repeats + 2):
        q = np.ascontiguousarray(items[rng.integers(len(items))][None] * 1.01)
        t = time.perf_counter()
        faiss.knn(q, items, K, metric=faiss.METRIC_INNER_PRODUCT)
        times.append(time.perf_counter() - t)
    return float(np.median(times[2:]) * 1e3)  # the first two warm the caches


def batch_floor_ms(items: np.ndarray, batch: int = 64, repeats: int = 15) -> float:
    """Median time of `batch` queries as one float32 GEMM and top-20 in torch (all threads):
    what a full micro-batch costs the service's exact path at best."""
    x = torch.from_numpy(items)
    q = x[:batch] * 1.01
    times = []
    for _ in range(repeats + 2):
        t = time.perf_counter()
        torch.topk(q @ x.T, K, dim=1)
        times.append(time.perf_counter() - t)
    return float(np.median(times[2:]) * 1e3)


def start_server(
    bundle: Path, env: dict[str, str], workers: int, log: Path
) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    port = free_port()
    cmd = [sys.executable, "-m", "coldrec", "serve", "--bundle", str(bundle), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a million items take a while to load
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the service did not become ready; see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process `pid` and its children (uvicorn's workers), all
    threads, from /proc."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, script: Path, connections: int, seconds: float, pid: int) -> dict[str, float]:
    """One wrk run; its requests/s, latency percentiles (ms), error counts and the server's CPU
    time per request (ms; robust to other load on the machine, unlike the rates)."""
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    row: dict[str, float] = {"connections": connections}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        row[f"p{pct}_ms"] = float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    row["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    row["requests"] = int(m.group(1)) if m else 0
    row["server_cpu_ms_per_request"] = (cpu_seconds(pid) - cpu0) * 1e3 / max(row["requests"], 1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    row["errors"] = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )
    return row


def run_size(n_items: int, args: argparse.Namespace, work: Path) -> dict[str, object]:
    bundle = work / f"bundle-{n_items}"
    write_bundle(bundle, n_items, n_users=N_USERS)
    items = np.load(bundle / "items.npy")
    floors = [floor_ms(items)]
    batch = batch_floor_ms(items)
    script = work / "recommend.lua"
    script.write_text(LUA % {"users": N_USERS, "k": K})
    configs: dict[str, object] = {}
    for name in args.configs:
        settings, workers = CONFIGS[name]
        env = {
            **settings,
            "COLDREC_REDIS_URL": args.redis_url,
            "COLDREC_NAMESPACE": f"wrk{n_items}-{name}-{os.getpid()}",
            "COLDREC_PRELOAD_TEXT_ENCODER": "false",  # not under test: nothing posts text
        }
        t0 = time.perf_counter()
        proc, url = start_server(bundle, env, workers, work / f"serve-{n_items}-{name}.log")
        ready_s = time.perf_counter() - t0
        try:
            run_wrk(url, script, 16, 2, proc.pid)  # warm-up: first batches, allocator, caches
            rows = [run_wrk(url, script, c, args.seconds, proc.pid) for c in args.connections]
        finally:
            proc.terminate()
            proc.wait(60)
        configs[name] = {"settings": settings, "workers": workers, "ready_s": ready_s, "rows": rows}
        for r in rows:
            print(
                f"{n_items:>9,} {name:5s} c={int(r['connections']):>3} {r['rps']:8.1f} req/s "
                f"p50 {r['p50_ms']:7.2f} ms p99 {r['p99_ms']:7.2f} ms errors {int(r['errors'])} "
                f"server CPU {r['server_cpu_ms_per_request']:.2f} ms/request",
                flush=True,
            )
    floors.append(floor_ms(items))
    return {
        "items": n_items,
        "floor_1q_ms": floors,
        "floor_1q_median_ms": float(np.median(floors)),
        "floor_64q_gemm_topk_ms": batch,
        "configs": configs,
    }


def table(results: list[dict[str, object]]) -> str:
    """The markdown table: per size and configuration, the best throughput and its multiple of
    the floor's single-query rate, and the one-connection p50 against one raw search."""
    lines = [
        "| items | config | one raw search (floor) | best req/s (connections) "
        "| x single-query rate | p50 / p99 at best | p50, 1 connection | x one search | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        floor = float(r["floor_1q_median_ms"])  # type: ignore[arg-type]
        for name, cfg in r["configs"].items():  # type: ignore[attr-defined]
            rows = cfg["rows"]
            best = max(rows, key=lambda x: x["rps"])
            one = next((x for x in rows if x["connections"] == 1), None)
            errors = sum(int(x["errors"]) for x in rows)
            one_p50 = f"{one['p50_ms']:.2f} ms" if one else "-"
            one_x = f"{one['p50_ms'] / floor:.2f}x" if one else "-"
            lines.append(
                f"| {r['items']:,} x 384 | {name} | {floor:.2f} ms | {best['rps']:.0f} "
                f"({int(best['connections'])}) | {best['rps'] * floor / 1e3:.1f}x | "
                f"{best['p50_ms']:.1f} / {best['p99_ms']:.1f} ms | {one_p50} | {one_x} | {errors} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--items", type=int, nargs="+", default=[10_000, 100_000], help="catalogue sizes"
    )
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[1, 16, 64, 128],
        help="wrk connection counts, one run each",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=sorted(CONFIGS),
        default=["fp32", "bf16"],
        help="server configurations (CONFIGS: index precision or type, --workers)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run (default 10)")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/13", help="the servers' Redis"
    )
    parser.add_argument("--out", type=Path, help="JSON of every run")
    parser.add_argument("--table", type=Path, help="markdown table of the best rows")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the sizes already in --out that this run does not measure (one size per run)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not on PATH (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_size(n, args, Path(tmp)) for n in args.items]
    if args.merge and args.out and args.out.exists():
        kept = [r for r in json.loads(args.out.read_text()) if r["items"] not in args.items]
        results = sorted(kept + results, key=lambda r: int(r["items"]))
    text = table(results)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(text)


if __name__ == "__main__":
    main()
