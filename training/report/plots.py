"""PNG plots for the report: Recall@K per track, and cold vs warm Recall@20 per model.

Figures are built on matplotlib's object API with an explicit Agg canvas inside each function,
so importing this module neither imports matplotlib nor touches pyplot's global backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# model label -> track name -> {"recall@20": .., ...}
TrackTable = Mapping[str, Mapping[str, Mapping[str, float]]]

TRACK_TITLES: dict[str, str] = {
    "warm": "Warm",
    "sparse": "Sparse users (≤5)",
    "active": "Active users (≥20)",
    "cold_only": "Cold, cold-only pool",
    "cold_all": "Cold, all-items pool",
}
BASELINE = "Random"
CONTENT = "Content (no training)"
HATCHES = {BASELINE: "//", CONTENT: ".."}


def plot_recall_per_track(
    by_model: TrackTable,
    path: Path,
    *,
    title: str,
    ks: Sequence[int] = (10, 20, 50),
    baseline: Mapping[str, Mapping[str, float]] | None = None,
    content: Mapping[str, Mapping[str, float]] | None = None,
) -> Path:
    """One panel per track present in any model; in each, Recall@K bars grouped by K, one bar
    per model (plus the random and the content-only baselines, hatched). Writes `path` and
    returns it."""
    tracks = [t for t in TRACK_TITLES if any(t in m for m in by_model.values())]
    series: dict[str, Mapping[str, Mapping[str, float]]] = dict(by_model)
    hatched = {}
    for label, tracks_of in ((BASELINE, baseline), (CONTENT, content)):
        if tracks_of:
            series[label] = tracks_of
            hatched[label] = HATCHES[label]
    cols = min(max(len(tracks), 1), 3)
    rows = -(-max(len(tracks), 1) // cols)
    fig, axes = _figure(rows, cols, width=4.0 * cols, height=3.2 * rows)
    for ax in axes[len(tracks) :]:
        ax.set_visible(False)
    width = 0.8 / max(len(series), 1)
    for ax, track in zip(axes, tracks, strict=False):
        for j, (label, model_tracks) in enumerate(series.items()):
            values = [100 * model_tracks.get(track, {}).get(f"recall@{k}", 0.0) for k in ks]
            xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(ks))]
            ax.bar(xs, values, width, label=label, hatch=hatched.get(label), alpha=0.9)
        ax.set_xticks(range(len(ks)), [f"@{k}" for k in ks])
        ax.set_title(TRACK_TITLES[track], fontsize=9)
        ax.set_ylabel("Recall (%)")
        ax.grid(axis="y", alpha=0.3)
    if tracks:
        _legend_below(fig, axes[0], ncols=len(series))
    fig.suptitle(title)
    return _save(fig, path)


def plot_cold_vs_warm(by_dataset: Mapping[str, TrackTable], path: Path) -> Path:
    """One panel per dataset; per model, Recall@20 on warm, cold (all items) and cold (cold-only)
    side by side. Writes `path` and returns it."""
    bars = (("warm", "Warm"), ("cold_all", "Cold, all items"), ("cold_only", "Cold, cold-only"))
    n = max(len(by_dataset), 1)
    fig, axes = _figure(1, n, width=4.2 * n, height=3.6)
    width = 0.8 / len(bars)
    for ax, (dataset, by_model) in zip(axes, by_dataset.items(), strict=False):
        models = list(by_model)
        for j, (track, label) in enumerate(bars):
            values = [100 * by_model[m].get(track, {}).get("recall@20", 0.0) for m in models]
            xs = [i + (j - (len(bars) - 1) / 2) * width for i in range(len(models))]
            ax.bar(xs, values, width, label=label)
        ax.set_xticks(range(len(models)), models, rotation=20, ha="right")
        ax.set_title(dataset, fontsize=10)
        ax.set_ylabel("Recall@20 (%)")
        ax.grid(axis="y", alpha=0.3)
    _legend_below(fig, axes[0], ncols=len(bars))
    fig.suptitle("Cold vs warm Recall@20")
    return _save(fig, path)


def _legend_below(fig: Any, ax: Any, *, ncols: int) -> None:
    """One legend for the figure, under the panels, where it cannot cover a bar."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, 6), fontsize=8)


def _figure(rows: int, cols: int, *, width: float, height: float) -> tuple[Any, list[Any]]:
    """A Figure on an Agg canvas (no pyplot state) and its axes as a flat list."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
