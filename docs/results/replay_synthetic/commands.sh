#!/usr/bin/env bash
# Reproduces docs/dashboard_synthetic.png and docs/results/replay_synthetic/replay.{json,txt}:
# a tiny synthetic run, replayed against `coldrec serve` scraped by a real Prometheus (loopback).
# Machine: the shared 2-core box, no GPU, Debian's prometheus 2.42. About 70 s in all.
set -euo pipefail
DATA="synthetic:n_users=1000,n_items=600"
.venv/bin/coldrec train --data "$DATA" --model lightgcn --out runs/replay-synthetic \
    --epochs 40 --set model.dim=64 --set train.projector_epochs=20 --quiet
USERS=400 USERS_PER_SECOND=10 REGISTER_BATCH=5 \
    benchmarks/replay_dashboard.sh runs/replay-synthetic "$DATA" runs/replay-synthetic/dashboard
cp runs/replay-synthetic/dashboard/dashboard.png docs/dashboard_synthetic.png
cp runs/replay-synthetic/dashboard/replay.{json,txt} docs/results/replay_synthetic/
