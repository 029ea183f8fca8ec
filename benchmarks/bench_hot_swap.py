"""Hot-swap benchmark: how long `POST /admin/bundle` takes and what the server's memory does
during a swap, at Amazon Beauty's size (22,363 users, 12,101 items, dim 384, a text modality).

Not part of the test suite. It writes two bundles of that size with random data (the writer of
benchmarks/bench_service.py: clustered embeddings, an untrained projector of the real shape, the
same dataset name), starts `python -m coldrec serve` on the first (its embedded Redis), registers
`--registered` items by features, and while a client thread keeps asking for recommendations it
swaps to the other bundle and back `--swaps` times. The first swap to each bundle re-projects the
registered items (then cached under the bundle's digest); later ones read the cache.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hot_swap.py --swaps 6 \
        --out docs/results/hot_swap/hot_swap.json

RSS is the server process's (VmRSS / VmHWM of /proc/PID/status), sampled every 10 ms; the
embedded Redis is a process of its own and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_service import DIM, free_port, write_bundle  # noqa: E402

USERS, ITEMS = 22_363, 12_101


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler(threading.Thread):
    """The server's RSS every 10 ms, with the time of each sample."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.samples.append((time.monotonic(), rss_mib(self.pid)))
            time.sleep(0.01)

    def peak(self, start: float, end: float) -> float:
        return max((r for t, r in self.samples if start <= t <= end), default=float("nan"))


class Client(threading.Thread):
    """Recommendations back to back; every answer that is not a 200 is a failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.halt = threading.Event()
        self.ok = 0
        self.failed = 0
        self.latency: list[float] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            n = 0
            while not self.halt.is_set():
                t = time.perf_counter()
                try:
                    good = http.get(f"/users/u{n % USERS}/recommendations").status_code == 200
                except httpx.HTTPError:
                    good = False
                self.latency.append(time.perf_counter() - t)
                self.ok += good
                self.failed += not good
                n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--swaps", type=int, default=6)
    parser.add_argument("--registered", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [Path(tmp) / "v1", Path(tmp) / "v2"]
        for seed, run in enumerate(runs):
            write_bundle(run / "bundle", ITEMS, USERS, seed=seed)
        port = free_port()
        env = {**os.environ, "COLDREC_STATE_DIR": str(Path(tmp) / "state")}
        cmd = [sys.executable, "-m", "coldrec", "serve", "--bundle", str(runs[0])]
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            result = run_swaps(proc, url, runs, args.swaps, args.registered)
        finally:
            proc.terminate()
            proc.wait(30)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def run_swaps(
    proc: subprocess.Popen[bytes], url: str, runs: list[Path], swaps: int, registered: int
) -> dict[str, object]:
    http = httpx.Client(base_url=url, timeout=600)
    deadline = time.monotonic() + 300
    while True:
        try:
            if http.get("/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the service did not become ready")
        time.sleep(0.2)
    rng = np.random.default_rng(0)
    for start in range(0, registered, 250):
        feats = rng.standard_normal((min(250, registered - start), DIM)).astype(np.float32)
        body = [
            {"id": f"new-{start + j}", "features": {"text": f.tolist()}}
            for j, f in enumerate(feats)
        ]
        assert http.post("/items", json={"items": body}).status_code == 201
    sampler = Sampler(proc.pid)
    sampler.start()
    client = Client(url)
    client.start()
    time.sleep(3)
    before = rss_mib(proc.pid)
    times, windows = [], []
    for n in range(swaps):
        target = runs[(n + 1) % 2]
        t0 = time.monotonic()
        r = http.post("/admin/bundle", json={"path": str(target)})
        t1 = time.monotonic()
        assert r.status_code == 200, r.text
        times.append(t1 - t0)
        windows.append((t0, t1 + 2.5))  # the old engine is stopped 2 s after the swap
        time.sleep(3)
    after = rss_mib(proc.pid)
    client.halt.set()
    client.join(60)
    sampler.halt.set()
    sampler.join(5)
    lat = np.asarray(client.latency) * 1e3
    return {
        "users": USERS,
        "items": ITEMS,
        "dim": DIM,
        "registered_items": registered,
        "swaps": swaps,
        "swap_seconds": [round(t, 3) for t in times],
        "first_swap_seconds": round(times[0], 3),  # re-projects the registered items
        "median_swap_seconds": round(statistics.median(times), 3),
        "median_cached_swap_seconds": round(statistics.median(times[2:] or times), 3),
        "rss_mib_before": round(before, 1),
        "rss_mib_peak_during": round(max(sampler.peak(a, b) for a, b in windows), 1),
        "rss_mib_after": round(after, 1),
        "rss_mib_high_water": round(rss_mib(proc.pid, "VmHWM"), 1),
        "requests_ok": client.ok,
        "requests_failed": client.failed,
        "recommend_p50_ms": round(float(np.percentile(lat, 50)), 2),
        "recommend_p99_ms": round(float(np.percentile(lat, 99)), 2),
        "recommend_max_ms": round(float(lat.max()), 1),
    }


if __name__ == "__main__":
    main()
