"""The report's optional sections (DiffMM before/after, ensembles) and its closing summary.

Each section returns its Markdown lines; an optional section returns none when no run has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.report.run_result import MODEL_LABELS, RunResult
from training.report.tables import (
    DASH,
    RunGrid,
    dataset_label,
    fmt,
    pct,
    seconds,
    table_line,
    warn,
)

DIAGNOSTICS_INTRO = (
    "**Before**: the original model's own path for an item with no interaction "
    "(MODELS.md 2: norm f_m(x) at self-loop weight 1 plus an untrained E_i; the denoisers "
    "have no column for it, so no generated edge reaches it). **After**: the modal "
    'projector, norm-calibrated. Same split, same users, cold test items. "w/o E_i" is '
    "the native path without the untrained id vector (MODELS.md fix d). "
    "cos(modal, diffusion) is the seed's diagnostic: the direct modal projection against "
    "what the generated graphs contribute (cold items, then warm items for reference)."
)
SUMMARY_CRITERIA = [
    ("Warm Recall", "warm"),
    ("Cold Recall (cold-only pool)", "cold_only"),
    ("Cold Recall (all items)", "cold_all"),
    ("Sparse Users", "sparse"),
    ("Active Users", "active"),
]


def diagnostics_section(all_runs: Sequence[RunResult]) -> list[str]:
    """Issue 3 item 4: the model's own cold path next to the projector; only runs that have
    `diagnostics` in metrics.json (DiffMM), nothing at all when none has."""
    runs = [r for r in all_runs if r.metrics.get("diagnostics")]
    if not runs:
        return []
    out = [
        "## DiffMM cold start: before and after",
        "",
        DIAGNOSTICS_INTRO,
        "",
        "| Dataset | Model | Cold-only R@20 before | after | All-items R@20 before "
        "| before w/o E_i | after | cos(modal, diffusion) cold / warm "
        "| cos(native, projector) | Norm / warm before / after |",
        "|---------|-------|------|------|------|------|------|------|------|------|",
    ]
    out += [table_line(_diagnostics_cells(r)) for r in runs]
    return [*out, "", "---", ""]


def _diagnostics_cells(r: RunResult) -> list[str]:
    d = r.metrics["diagnostics"]
    cos = d.get("cos_modal_vs_diffusion", {})
    return [
        dataset_label(r.dataset),
        r.label,
        _r20(d, "before", "cold_only"),
        _r20(d, "after", "cold_only"),
        _r20(d, "before", "cold_all"),
        _r20(d, "native_without_id", "cold_all"),
        _r20(d, "after", "cold_all"),
        f"{fmt(cos.get('cold'))} / {fmt(cos.get('warm'))}",
        fmt(d.get("cos_native_vs_projector")),
        f"{fmt(d.get('norm_ratio_before'))} / {fmt(d.get('norm_ratio_after'))}",
    ]


def _r20(diagnostics: dict[str, Any], side: str, track: str) -> str:
    """Recall@20 of one side ("before", "after", ...) of a run's diagnostics, as a percentage."""
    return pct(diagnostics.get(side, {}).get(track, {}).get("recall@20"))


def ensemble_section(all_runs: Sequence[RunResult]) -> list[str]:
    """Runs written by `coldrec ensemble`: their members and the weight chosen on validation."""
    runs = [r for r in all_runs if r.metrics.get("members")]
    if not runs:
        return []
    out = [
        "## Ensembles",
        "",
        "Score = α·s_A + (1-α)·s_B, each member's scores first divided by its mean warm item "
        "norm times its mean user norm; α chosen on validation (mean of warm and all-items "
        "cold Recall@20), then every track evaluated once on test.",
        "",
        "| Dataset | Ensemble | Member A | Member B | α |",
        "|---------|----------|----------|----------|---|",
    ]
    for r in runs:
        members = [str(m.get("model", DASH)) for m in r.metrics["members"]] + [DASH, DASH]
        a, b = (MODEL_LABELS.get(m, m) for m in members[:2])
        out.append(table_line([dataset_label(r.dataset), r.label, a, b, fmt(r.metrics["alpha"])]))
    return [*out, "", "---", ""]


def summary_table(grid: RunGrid) -> list[str]:
    """The winner of each criterion (Recall@20 per track, then training speed)."""
    out = ["| Criterion | Winner | Notes |", "|-----------|--------|-------|"]
    for name, track in SUMMARY_CRITERIA:
        out.append(_summary_row(grid, name, track))
    out.append(_speed_row(grid))
    return out


def _summary_row(grid: RunGrid, name: str, track: str) -> str:
    """Winner of Recall@20 on each dataset; the model winning most datasets wins."""
    wins: dict[str, int] = {}
    notes = []
    for ds in grid.datasets:
        values = {
            m: v
            for m in grid.models
            if (ds, m) in grid.grid
            if (v := grid.grid[ds, m].value(track, "recall@20")) is not None
        }
        if not values:
            continue
        best = max(values, key=lambda m: values[m])
        wins[best] = wins.get(best, 0) + 1
        rnd = grid.random_value(ds, track, "recall@20")
        content = grid.content_value(ds, track, "recall@20")
        notes.append(
            f"{dataset_label(ds)}: {grid.labels[best]} {pct(values[best])} R@20 "
            f"(random {pct(rnd)}, content {pct(content)}){warn(values[best], rnd)}"
        )
    return f"| **{name}** | {_winner(grid, wins)} | {'; '.join(notes) or 'no run has this track'} |"


def content_ratio_table(grid: RunGrid) -> list[str]:
    """Per dataset, the best model's test Recall@20 over the content-only baseline's in the
    cold-only and all-items pools (issue 13 asks for >= 1.5x cold-only); none without cold."""
    if not any(r.value("cold_all", "recall@20") is not None for r in grid.runs):
        return []
    out = [
        "| Dataset | Content | Cold-only pool: best / content | All-items pool: best / content |",
        "|---------|---------|--------------------------------|--------------------------------|",
    ]
    for ds in grid.datasets:
        cells = [_ratio(grid, ds, track) for track in ("cold_only", "cold_all")]
        out.append(table_line([dataset_label(ds), grid.content_source(ds), *cells]))
    return out


def _ratio(grid: RunGrid, ds: str, track: str) -> str:
    """'MICRO 16.36% / 11.85% = 1.38x' for one pool; DASH parts where a figure is missing."""
    values = {
        r.model: v for r in grid.runs_of(ds) if (v := r.value(track, "recall@20")) is not None
    }
    if not values:
        return DASH
    best = max(values, key=lambda m: values[m])
    content = grid.content_value(ds, track, "recall@20")
    ratio = f"{values[best] / content:.2f}x" if content else DASH
    return f"{grid.labels[best]} {pct(values[best])} / {pct(content)} = {ratio}"


def _speed_row(grid: RunGrid) -> str:
    """The fastest model to train on each dataset, with every model's training time."""
    wins: dict[str, int] = {}
    notes = []
    for ds in grid.datasets:
        times = {
            m: float(t)
            for m in grid.models
            if (ds, m) in grid.grid
            if (t := grid.grid[ds, m].metrics.get("train_seconds")) is not None
        }
        if not times:
            continue
        fastest = min(times, key=lambda m: times[m])
        wins[fastest] = wins.get(fastest, 0) + 1
        each = ", ".join(f"{grid.labels[m]} {seconds(t)}" for m, t in times.items())
        notes.append(f"{dataset_label(ds)}: {each}")
    return f"| **Training Speed** | {_winner(grid, wins)} | {'; '.join(notes) or DASH} |"


def _winner(grid: RunGrid, wins: dict[str, int]) -> str:
    if not wins:
        return DASH
    top = max(wins.values())
    leaders = [grid.labels[m] for m, w in wins.items() if w == top]
    if len(leaders) == 1 and len(wins) == 1:
        return f"**{leaders[0]}**"
    return "/".join(leaders) if len(leaders) < len(grid.models) else "Mixed"
