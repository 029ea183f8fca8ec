"""The online cost of the simulated-edges step: `SimulatedEdges.apply` for 1 and 1,000 new items
over random d-384 references of 1k, 10k and 100k trained rows (K 20), one torch thread. Run from
the repo root: `.venv/bin/python docs/results/simulated_edges/bench_step.py`."""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from models.simulated_edges import EdgesConfig, SimulatedEdges

D = 384


def seconds_per_call(step: SimulatedEdges, batch: int, rng: np.random.Generator) -> float:
    """Mean wall seconds of one `apply` of `batch` random projections (after a warm-up call)."""
    p = rng.standard_normal((batch, D)).astype(np.float32)
    step.apply(p)
    reps = 50 if batch == 1 else 3
    started = time.perf_counter()
    for _ in range(reps):
        step.apply(p)
    return (time.perf_counter() - started) / reps


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    for n_ref in (1_000, 10_000, 100_000):
        rows = rng.standard_normal((n_ref, D)).astype(np.float32)
        keys = rng.standard_normal((n_ref, D)).astype(np.float32)
        every = np.arange(n_ref)
        for source in ("items", "content"):
            cfg = EdgesConfig(20, 0.5, source)
            step = SimulatedEdges.build(cfg, rows, rows, every, every, keys)
            for batch in (1, 1000):
                dt = seconds_per_call(step, batch, rng)
                sys.stdout.write(
                    f"trained rows {n_ref:>6}, source {source:<7}, batch {batch:>4}: "
                    f"{dt * 1e3:8.2f} ms a call, {dt / batch * 1e3:7.3f} ms an item\n"
                )


if __name__ == "__main__":
    main()
