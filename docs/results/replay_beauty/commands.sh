#!/usr/bin/env bash
# Reproduces docs/results/replay_beauty/{dashboard.png,replay.json,replay.txt} (issue 5): the
# LightGCN run on Amazon Beauty (docs/results/beauty-lightgcn/commands.sh) replayed against
# `coldrec serve` scraped by a real Prometheus, both on loopback: the 1,210 cold test items are
# registered through POST /items, 2,000 users at 20 per second ask for 20 recommendations and
# post their held-out test interactions. Machine: 2 CPU cores (shared), Debian's prometheus 2.42.
set -euo pipefail
[ -f runs/amazon_beauty/lightgcn/metrics.json ] || docs/results/beauty-lightgcn/commands.sh
USERS=2000 USERS_PER_SECOND=20 benchmarks/replay_dashboard.sh runs/amazon_beauty/lightgcn \
    "${DATA:-../shared/data/amazon_beauty}" runs/replay-beauty
cp runs/replay-beauty/{dashboard.png,replay.json,replay.txt} docs/results/replay_beauty/
