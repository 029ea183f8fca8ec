"""The field beside us: another system's figures, measured elsewhere on our split, in the report.

`coldrec report --field FILE` (repeatable: one section per file, in the order given) reads a
JSON file holding a system's name, where and how its figures were measured (`source`, quoted
under the table), and per dataset a row per model with test metrics per track (`cold_only`,
`cold_all`, `warm`; `recall@20`, `ndcg@20`). For each dataset of the report that the file covers,
the section lists those rows beside this report's own runs and the content-only baseline, in
the same pools: cold-only, all items, warm. Committed files, docs/results/field/:
coldrec_toolkit.json (the ColdRec toolkit at its defaults) and coldrec_before.json (coldrec's own
models table before issues 13 and 16, extracted by before_from_report.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.report.run_result import ReportError
from training.report.tables import DASH, RunGrid, dataset_label, pct, table_line

COLUMNS: tuple[tuple[str, str], ...] = (
    ("cold_only", "recall@20"),
    ("cold_only", "ndcg@20"),
    ("cold_all", "recall@20"),
    ("warm", "recall@20"),
)
HEADER = [
    "Model",
    "Cold-only R@20",
    "Cold-only N@20",
    "All-items cold R@20",
    "Warm R@20",
]


@dataclass(frozen=True)
class Field:
    """Another system's figures on our split: name, provenance, dataset -> rows."""

    name: str
    source: str
    datasets: dict[str, list[dict[str, Any]]]


def load_field(path: Path) -> Field:
    """Read and check a field file; ReportError names the file and what is wrong."""
    try:
        data = json.loads(path.read_text())
        field = Field(str(data["name"]), str(data["source"]), dict(data["datasets"]))
        for ds, rows in field.datasets.items():
            for row in rows:
                str(row["model"])
                for track, key in COLUMNS:
                    value = row.get(track, {}).get(key)
                    if value is not None and not 0 <= float(value) <= 1:
                        raise ValueError(f"{ds} {row['model']} {track} {key} = {value}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReportError(f"{path}: not a field file ({exc})") from exc
    return field


def field_section(field: Field, grid: RunGrid) -> list[str]:
    """The section's lines; empty when the report has none of the file's datasets."""
    shown = [ds for ds in grid.datasets if ds in field.datasets]
    if not shown:
        return []
    lines = [
        f"## The field beside us: {field.name}",
        "",
        f"Measured on our split, not by this report's runs: {field.source}",
        "",
    ]
    for ds in shown:
        lines += [f"**{dataset_label(ds)}** (test)", "", table_line(HEADER)]
        lines.append(table_line(["---"] * len(HEADER)))
        for r in grid.runs_of(ds):
            test = r.tracks("test")
            lines.append(table_line([f"coldrec {r.label}", *_cells(test)]))
        content = grid.content_baseline(ds)
        if content:
            lines.append(table_line(["content only (no training)", *_cells(content)]))
        for row in field.datasets[ds]:
            lines.append(table_line([f"{field.name}: {row['model']}", *_cells(row)]))
        lines.append("")
    return lines


def _cells(metrics: dict[str, Any]) -> list[str]:
    out = []
    for track, key in COLUMNS:
        value = (metrics.get(track) or {}).get(key)
        out.append(DASH if value is None else pct(float(value)))
    return out
