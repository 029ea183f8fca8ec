"""The GPU check of issue 15: search and registration on a GPU through the service's own index.

Not part of the test suite; one prepared run for a machine with CUDA (the `device` tool lends
one to some sessions). It builds the service's `Catalogue` over N random clustered items
(dim 384) with the backend `make_backend` picks for `index_device=gpu` (faiss-gpu when this
faiss has it, else torch on CUDA: service/torch_search.py), and measures, beside the same
searches through the exact CPU path for reference:

- p50 / p99 of one query (k 20, 20 excluded items, like a user with a history);
- batched throughput: queries/s at batches of 64 (the service's micro-batch) and 256;
- registration-to-servable: time from `upsert` of a batch of 256 new items until a search
  returns one of them (what POST /items waits for), p50 over repeats;
- recall@20 of the GPU answers against float64 exact on 100 queries (must be >= 0.99).

    python benchmarks/bench_gpu.py --items 1000000 --out gpu.json

Prints one JSON object. Exits 2 with a message when no GPU is visible.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service.index import Catalogue, KindIndex, Query  # noqa: E402
from service.search import gpu_available, make_backend  # noqa: E402

DIM, K = 384, 20


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((256, DIM)).astype(np.float32)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):  # chunks: no second n x dim temporary
        m = min(100_000, n - start)
        block = centers[rng.integers(0, 256, m)] + rng.standard_normal((m, DIM))
        out[start : start + m] = block / np.sqrt(DIM)
    return out


def catalogue(device: str, precision: str, items: np.ndarray) -> Catalogue:
    kinds = []
    for kind in ("warm", "cold"):
        backend = make_backend("flat", device, DIM, items[:50_000], precision=precision)  # type: ignore[arg-type]
        kinds.append(KindIndex(kind, DIM, backend, 4096))  # type: ignore[arg-type]
    cat = Catalogue(kinds[0], kinds[1])
    cat.upsert(np.arange(len(items)), items, "warm")
    return cat


def timed(fn, repeats: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return np.asarray(out) * 1e3


def measure(cat: Catalogue, items: np.ndarray, queries: np.ndarray, repeats: int) -> dict:  # type: ignore[type-arg]
    rng = np.random.default_rng(1)
    excl = [rng.integers(0, len(items), 20) for _ in range(len(queries))]
    one = iter(range(10**9))

    def single() -> None:
        i = next(one) % len(queries)
        cat.search([Query(queries[i], K, "all", excl[i])])

    lat = timed(single, repeats)
    out: dict[str, object] = {
        "p50_ms": float(np.median(lat)),
        "p99_ms": float(np.percentile(lat, 99)),
    }
    for b in (64, 256):
        qs = [Query(queries[i % len(queries)], K, "all", excl[i % len(queries)]) for i in range(b)]
        t = timed(lambda qs=qs: cat.search(qs), max(3, repeats // 10))
        out[f"batch{b}_qps"] = float(b / (np.median(t) / 1e3))
    new = clustered(256 * 5, seed=9)
    servable = []
    for r in range(5):
        ids = np.arange(len(items) + 256 * r, len(items) + 256 * (r + 1))
        t = time.perf_counter()
        cat.upsert(ids, new[256 * r : 256 * (r + 1)], "cold")
        hits = cat.search([Query(new[256 * r] * 10, K, "cold")])[0]
        servable.append(time.perf_counter() - t)
        assert hits and hits[0].item == ids[0], "a registered item was not servable"
    out["registration_to_servable_ms_p50"] = float(np.median(servable) * 1e3)
    truth = np.argsort(-(queries[:100].astype(np.float64) @ items.T.astype(np.float64)), axis=1)
    found = cat.search([Query(q, K, "warm") for q in queries[:100]])
    recall = [
        len({h.item for h in f} & set(t[:K].tolist())) / K
        for f, t in zip(found, truth, strict=True)
    ]
    out["recall_at_20"] = float(np.mean(recall))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"])
    parser.add_argument("--cpu-reference", action="store_true", help="also the exact CPU path")
    parser.add_argument(
        "--device", choices=("gpu", "cpu"), default="gpu", help="cpu: a dry run of this script"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.device == "gpu" and not gpu_available():
        print("no GPU visible to faiss or torch: nothing to measure", file=sys.stderr)
        raise SystemExit(2)
    items = clustered(args.items, seed=0)
    queries = clustered(1000, seed=3)
    result: dict[str, object] = {
        "items": args.items,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    for precision in args.precisions:
        t = time.perf_counter()
        cat = catalogue(args.device, precision, items)
        load_s = time.perf_counter() - t
        name = f"{args.device}_{precision}"
        result[name] = {"load_s": load_s, **measure(cat, items, queries, args.repeats)}
        del cat
        print(json.dumps(result[name]), file=sys.stderr, flush=True)
    if args.cpu_reference:
        cat = catalogue("cpu", "fp32", items)
        result["cpu_fp32_reference"] = measure(cat, items, queries, max(20, args.repeats // 10))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
