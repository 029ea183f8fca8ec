#!/usr/bin/env bash
# Reproduces docs/results/hot_swap/hot_swap.json: swap time and server RSS during
# POST /admin/bundle at Amazon Beauty's size (22,363 users, 12,101 items, dim 384, a text
# modality; two bundles of random data through bundle.writer), 1,000 registered items,
# a client asking for recommendations throughout, 6 swaps (v1 -> v2 -> v1 ...).
# Machine: the shared 2-core box, no GPU, while other jobs ran (load average ~3.7). About 1 min.
set -euo pipefail
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hot_swap.py --swaps 6 \
    --out docs/results/hot_swap/hot_swap.json
