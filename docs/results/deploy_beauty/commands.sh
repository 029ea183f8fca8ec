#!/usr/bin/env bash
# Reproduces docs/results/deploy_beauty/ (issue 12): Amazon Beauty written out in the plain format
# (interactions.csv + items.csv), then `coldrec train --deploy` on it: the evaluation run chooses
# the backbone's epoch, the projector's epoch and its loudness on validation, the refit trains on
# every interaction with those choices, and the bundle holds every item.
# MICRO under the results' one training rule (docs/results/settings.sh). Machine: 2 CPU cores,
# 24 GiB, no GPU. Run from the repository root after `make install`.
set -euo pipefail
source "$(dirname "$0")/../settings.sh"  # SHARED, TRAIN_RULE_30
PY=${PY:-.venv/bin/python}
OUT=docs/results/deploy_beauty
CSV=${CSV:-runs/beauty_csv}
RUN=${RUN:-runs/deploy_beauty/micro}
[ -f "$CSV/items.csv" ] || "$PY" -m training.data.plain_export "$SHARED/amazon_beauty" "$CSV"
"$PY" -m coldrec data stats "$CSV" | tee "$OUT/data_stats.json"
/usr/bin/time -v "$PY" -m coldrec train --data "$CSV" --model micro --out "$RUN" --deploy \
    "${TRAIN_RULE_30[@]}" --quiet >"$OUT/train.json" 2>"$OUT/train.time.txt"
cat "$OUT/train.json"
"$PY" - "$RUN" "$OUT" <<'PY'
import json, sys
from pathlib import Path
run, out = Path(sys.argv[1]), Path(sys.argv[2])
metrics = json.loads((run / "metrics.json").read_text())
manifest = json.loads((run / "bundle" / "manifest.json").read_text())
summary = {
    "bundle_items": manifest["n_items"],
    "bundle_users": manifest["n_users"],
    "format_version": manifest["format_version"],
    "deploy": metrics["deploy"],
    "evaluation_test_recall@20": {t: m["recall@20"] for t, m in metrics["test"].items()},
    "evaluation_valid_recall@20": {t: m["recall@20"] for t, m in metrics["valid"].items()},
    "evaluation_train_seconds": metrics["train_seconds"],
    "stopped_by": metrics.get("stopped_by"),
    "best_epoch": metrics["best_epoch"],
}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
PY
