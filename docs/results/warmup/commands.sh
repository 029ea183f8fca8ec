#!/usr/bin/env bash
# Reproduces docs/results/warmup/ (issue 14 item 5): warm-up between retrains measured on Amazon
# Beauty. A LightGCN run (dim 64, a 15-minute backbone budget, one torch thread: the 2-core box
# was shared with another training job), served by `coldrec serve` with a fresh embedded state
# per replay, replayed with `coldrec replay --cold-only --pool cold`: first on validation (the
# cold validation items and their interactions) with warm-up off and k0 in K0S, choosing k0 by
# the cold hit rate over each item's first N interactions; then on test, off and with that k0.
# Run from the repository root after `make install`.
set -euo pipefail
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data/amazon_beauty}
RUN=${RUN:-runs/beauty-warmup}
OUT=docs/results/warmup
K0S=${K0S:-"0.3 1 3 10 30"}
FIRST_N=${FIRST_N:-10}
PORT=${PORT:-8731}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

if [ ! -f "$RUN/metrics.json" ]; then
    /usr/bin/time -v "$PY" -m coldrec train --data "$DATA" --model lightgcn --out "$RUN" \
        --epochs 30 --set train.batch_size=4096 --set train.lr=2e-3 --set train.patience=10 \
        --set train.time_budget_s=900 --set model.dim=64 --set train.threads=1 --quiet \
        >"$OUT/train.json" 2>"$OUT/train.time.txt"
fi

SERVE_PID=""
STATE=""
stop_serve() {
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
    SERVE_PID=""
    if [ -n "$STATE" ]; then rm -rf "$STATE"; fi
    STATE=""
}
trap stop_serve EXIT

replay() {  # NAME PHASE WARMUP K0: a fresh service, one replay, its JSON in $OUT/NAME.json
    local name=$1 phase=$2 warmup=$3 k0=$4
    if [ -f "$OUT/$name.json" ]; then return; fi  # done already (delete it to replay again)
    STATE=$(mktemp -d)
    COLDREC_STATE_DIR="$STATE" COLDREC_WARMUP="$warmup" COLDREC_WARMUP_K0="$k0" \
        "$PY" -m coldrec serve --bundle "$RUN" --port "$PORT" >"$STATE/serve.log" 2>&1 &
    SERVE_PID=$!
    "$PY" - "http://127.0.0.1:$PORT/readyz" <<'PYEOF'
import sys, time, httpx
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    try:
        if httpx.get(sys.argv[1], timeout=2).status_code == 200:
            sys.exit(0)
    except httpx.TransportError:
        pass
    time.sleep(0.5)
sys.exit("the service never became ready")
PYEOF
    "$PY" -m coldrec replay --run "$RUN" --data "$DATA" --url "http://127.0.0.1:$PORT" \
        --phase "$phase" --pool cold --cold-only --first-n "$FIRST_N" --k 20 --seed 0 \
        --max-users 1000000 --max-seconds 3600 --timeout 60 --json "$OUT/$name.json" \
        | tee "$OUT/$name.txt"
    stop_serve
}

replay valid-off valid false 1
for k0 in $K0S; do replay "valid-k0-$k0" valid true "$k0"; done
BEST=$("$PY" - "$OUT" $K0S <<'PYEOF'
import json, sys
out, k0s = sys.argv[1], sys.argv[2:]
rate = {k: json.load(open(f"{out}/valid-k0-{k}.json"))["cold_first_n"]["hit_rate"] for k in k0s}
print(max(k0s, key=lambda k: (rate[k], -float(k))))
PYEOF
)
echo "k0 chosen on validation: $BEST"
replay test-off test false 1
replay test-warmup test true "$BEST"
"$PY" "$OUT/table.py" "$OUT" "$BEST" $K0S | tee "$OUT/results.md"
