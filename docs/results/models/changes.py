"""What changed in each figure of the models table (issue 16): the table before issues 13 and 16
(docs/results/field/coldrec_before.json) beside the kept runs of today (runs/), per dataset and
model: test Recall@20 of cold_only, cold_all and warm as served, how each run stopped, and which
cold-start steps validation kept. Prints Markdown.

    python3 docs/results/models/changes.py > docs/results/models/changes.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root: run as a plain script

from models.content_floor import FloorConfig  # noqa: E402
from models.simulated_edges import EdgesConfig  # noqa: E402
from training.report.run_result import MODEL_LABELS, load_run  # noqa: E402
from training.report.tables import dataset_label  # noqa: E402

DATASETS = ("amazon_scientific_mm", "tiktok", "amazon_beauty")
MODELS = ("lightgcn", "lattice", "micro", "diffmm", "ensemble")
TRACKS = ("cold_only", "cold_all", "warm")


def kept_steps(metrics: dict) -> str:
    """The cold-start steps validation kept for the run (what its bundle serves), read from its
    cold_start entries as the bundle reader reads them."""
    if metrics.get("members"):
        return "the members'"
    cold_start = metrics.get("cold_start", {})
    steps = []
    if (edges := EdgesConfig.from_manifest(cold_start)) is not None:
        steps.append(f"edges ({edges.source}, K {edges.k})")
    if FloorConfig.from_manifest(cold_start) is not None:
        steps.append("floor")
    return ", ".join(steps) or "none"


def out(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> int:
    before = json.loads((HERE.parents[0] / "field" / "coldrec_before.json").read_text())
    out(
        "| Dataset | Model | cold_only R@20 | cold_all R@20 | warm R@20 | stopped (best / run) |"
        " cold-start steps kept |"
    )
    out("|---|---|---|---|---|---|---|")
    for ds in DATASETS:
        old = {row["model"]: row for row in before["datasets"].get(ds, [])}
        for model in MODELS:
            path = HERE / "runs" / ds / model
            if not (path / "metrics.json").is_file():
                continue
            run = load_run(path)
            prev = old.get(run.label, {})
            cells = []
            for track in TRACKS:
                now = run.value(track, "recall@20")
                was = prev.get(track, {}).get("recall@20")
                if now is None:
                    cells.append("–")
                elif was is None:
                    cells.append(f"{100 * now:.2f}%")
                else:
                    cells.append(f"{100 * was:.2f}% → {100 * now:.2f}% ({now / was:.2f}x)")
            m = run.metrics
            stop = "–"
            if "stopped_by" in m:
                stop = f"{m['stopped_by']} ({m['best_epoch']} / {m['epochs_run']})"
            out(
                f"| {dataset_label(ds)} | {MODEL_LABELS.get(run.model, run.label)} | "
                + " | ".join(cells)
                + f" | {stop} | {kept_steps(m)} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
