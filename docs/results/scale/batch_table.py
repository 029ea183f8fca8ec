"""The batch-size check of docs/results/scale/README.md: each `commands.sh batch` run's best
validation Recall@20 (the backbone's early-stopping score), when it peaked, how long it trained.
Prints Markdown; reads runs/scale/batch/b<batch>-lr<lr>/<model>/metrics.json.

    python3 docs/results/scale/batch_table.py [runs/scale/batch]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MODELS = ("lightgcn", "micro", "lattice")


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/scale/batch")
    lines = [
        "| model | batch / lr | best valid Recall@20 | x batch 4,096 | best / run epochs |"
        " median epoch s | train s | stopped by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        runs = sorted(
            root.glob(f"b*-lr*/{model}/metrics.json"),
            key=lambda p: int(p.parts[-3][1:].split("-")[0]),
        )
        base = None
        for path in runs:
            m = json.loads(path.read_text())
            best = max(h["valid_recall@20"] for h in m["history"] if "valid_recall@20" in h)
            base = best if base is None else base
            lines.append(
                f"| {model} | {path.parts[-3][1:].replace('-lr', ' / ')} | {100 * best:.2f}% |"
                f" {best / base:.3f} | {m['best_epoch']} / {m['epochs_run']} |"
                f" {m['epoch_seconds_median']:.1f} | {m['train_seconds']:.0f} | {m['stopped_by']} |"
            )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
