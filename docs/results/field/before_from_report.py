"""coldrec's own models table at a past commit, as a field file for `coldrec report --field`.

    python docs/results/field/before_from_report.py 1ea0887 > docs/results/field/coldrec_before.json

Reads `git show COMMIT:docs/results/models/report.md` and takes, per dataset and model, the test
figures the field section shows: cold-only pool Recall@20 and NDCG@20, all-items pool Recall@20
(cold_all) and warm Recall@20, from the report's Track 1 and Track 3 tables (percentages with two
decimals, written as fractions). The runs a report's timing table says were stopped by the time
budget are named in `source`. Run from the repository root.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

REPORT = "docs/results/models/report.md"
# The dataset labels that report prints, and the dataset names the field file uses.
DATASETS = {
    "Amazon Scientific (text+image)": "amazon_scientific_mm",
    "TikTok": "tiktok",
    "Amazon Beauty": "amazon_beauty",
}
# (heading path the table sits under, metric row) -> (track, metric) in the field file.
TABLES = {
    (("### Cold-only pool", "#### Recall@K"), "R@20"): ("cold_only", "recall@20"),
    (("### Cold-only pool", "#### NDCG@K"), "N@20"): ("cold_only", "ndcg@20"),
    (("### All-items pool", "#### Recall@K"), "R@20"): ("cold_all", "recall@20"),
    (("## Track 1: Warm Performance", "### Recall@K"), "R@20"): ("warm", "recall@20"),
}
TRACK_ORDER = ("cold_only", "cold_all", "warm")
SOURCE = (
    "coldrec's own models table before issues 13 and 16: docs/results/models/report.md as of "
    "commit {commit}, test figures read from its tables by "
    "docs/results/field/before_from_report.py. Same split (seed 0, 20% of items cold), same "
    "model sizes; the training rule then: at most 30 epochs, early stopping on validation "
    "Recall@20 with patience 10, a 20-minute budget for backbone training, batch 4096, lr 2e-3; "
    "no cold-start options (no distillation, content floor or simulated edges). {stopped}"
)


def cells(line: str) -> list[str]:
    """A Markdown table row's cells, bold markers dropped."""
    return [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]


def fraction(cell: str) -> float:
    """'16.36%' -> 0.1636."""
    return round(float(cell.rstrip("%").replace(",", "")) / 100, 6)


def field_from_report(text: str, commit: str) -> dict[str, Any]:
    """The field file's content from a models report's Markdown."""
    rows: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    stopped_by_budget: list[str] = []
    headings: dict[int, str] = {}
    header: list[str] = []
    dataset = ""
    for line in text.splitlines():
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            headings = {k: v for k, v in headings.items() if k < level} | {level: line.strip()}
            header = []
            continue
        if not line.startswith("|"):
            header = []
            continue
        row = cells(line)
        if not header:
            header = row
            continue
        if set("".join(row)) <= set("-: "):
            continue
        if header[:2] == ["Model", "Dataset"] and "Stopped By" in header:
            named = dict(zip(header, row, strict=True))
            if named["Stopped By"] == "time_budget":
                epochs = named["Epochs Run"]
                stopped_by_budget.append(f"{named['Dataset']} {named['Model']} ({epochs} epochs)")
        if header[:2] != ["Dataset", "Metric"]:
            continue
        dataset = row[0] or dataset
        path = tuple(v for _, v in sorted(headings.items()))
        for (under, metric), (track, key) in TABLES.items():
            if row[1] != metric or path[-len(under) :] != under:
                continue
            models = header[2 : header.index("Random")]
            for model, cell in zip(models, row[2 : 2 + len(models)], strict=True):
                by_model = rows.setdefault(DATASETS[dataset], {}).setdefault(model, {})
                by_model.setdefault(track, {})[key] = fraction(cell)
    stopped = (
        "Stopped by that budget: " + ", ".join(stopped_by_budget) + "."
        if stopped_by_budget
        else "No run was stopped by that budget."
    )
    return {
        "name": "coldrec before issues 13 and 16",
        "source": SOURCE.format(commit=commit, stopped=stopped),
        "datasets": {
            ds: [
                {"model": model, **{t: tracks[t] for t in TRACK_ORDER if t in tracks}}
                for model, tracks in by_model.items()
            ]
            for ds, by_model in rows.items()
        },
    }


def render(field: dict[str, Any]) -> str:
    """JSON in the committed field files' layout: one model row a line."""
    lines = ["{", f'  "name": {json.dumps(field["name"])},']
    lines.append(f'  "source": {json.dumps(field["source"], ensure_ascii=False)},')
    lines.append('  "datasets": {')
    datasets = list(field["datasets"].items())
    for i, (ds, rows) in enumerate(datasets):
        lines.append(f"    {json.dumps(ds)}: [")
        body = [f"      {json.dumps(row, ensure_ascii=False)}" for row in rows]
        lines.append(",\n".join(body))
        lines.append("    ]" + ("," if i < len(datasets) - 1 else ""))
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write(f"usage: {sys.argv[0]} COMMIT > coldrec_before.json\n")
        return 2
    commit = argv[0]
    text = subprocess.run(
        ["git", "show", f"{commit}:{REPORT}"], check=True, capture_output=True, text=True
    ).stdout
    sys.stdout.write(render(field_from_report(text, commit)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
