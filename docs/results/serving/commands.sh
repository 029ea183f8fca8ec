#!/usr/bin/env bash
# Reproduces docs/results/serving/bench_wrk.{json,md} (issue 15, item 1): GET recommendations
# under wrk against `coldrec serve`, beside faiss.knn's one-query time over the same matrix in
# the same run. Needs wrk (Debian: apt-get install wrk) and a Redis on 127.0.0.1:6379 (db 13).
# One size per invocation, merged into one JSON and table. Run from the repository root after
# `make install`, with nothing else running (the committed rows: other jobs paused, see README).
set -euo pipefail
OUT=docs/results/serving
B=(.venv/bin/python benchmarks/bench_wrk.py --connections 1 16 64 128 --seconds 8
    --out "$OUT/bench_wrk.json" --table "$OUT/bench_wrk.md" --merge)
"${B[@]}" --items 10000 --configs fp32 fp32-w2
"${B[@]}" --items 100000 --configs fp32 bf16 fp32-w2 bf16-w2
"${B[@]}" --items 1000000 --configs fp32 bf16
