"""The Markdown report: every run's metrics.json and config.json rendered in the seed's shape.

One run per (model, dataset); several models and datasets go into one report. Winners are the
models only (the random baseline is shown beside them and never wins); ⚠️ marks a model result
that does not beat the random ranking.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.plots import plot_cold_vs_warm, plot_recall_per_track

KS = (10, 20, 50)
MODEL_LABELS = {"lightgcn": "LightGCN", "lattice": "LATTICE", "micro": "MICRO", "diffmm": "DiffMM"}
DASH = "–"


class ReportError(ValueError):
    """A run folder that cannot be reported (missing or malformed files, duplicate runs)."""


@dataclass(frozen=True)
class RunResult:
    """One run folder: its metrics.json and config.json, as parsed JSON."""

    run_dir: Path
    model: str
    dataset: str
    metrics: dict[str, Any]
    config: dict[str, Any]

    @property
    def label(self) -> str:
        return MODEL_LABELS.get(self.model, self.model)

    def value(self, track: str, key: str, phase: str = "test") -> float | None:
        """A test (or valid) metric; None when the run lacks that track."""
        v = self.metrics.get(phase, {}).get(track, {}).get(key)
        return None if v is None else float(v)

    def random_value(self, track: str, key: str) -> float | None:
        v = self.metrics.get("random", {}).get("test", {}).get(track, {}).get(key)
        return None if v is None else float(v)


def load_run(run_dir: Path) -> RunResult:
    """Read `run_dir/metrics.json` and `run_dir/config.json`."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())
        return RunResult(run_dir, str(metrics["model"]), str(metrics["dataset"]), metrics, config)
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise ReportError(f"{run_dir}: not a finished run ({exc})") from exc


def write_report(run_dirs: Sequence[Path], out_dir: Path) -> Path:
    """Render `out_dir/report.md` and its PNG plots from the runs; return the report's path."""
    runs = [load_run(Path(d)) for d in run_dirs]
    if not runs:
        raise ReportError("no run to report")
    seen: set[tuple[str, str]] = set()
    for run in runs:
        if (run.model, run.dataset) in seen:
            raise ReportError(f"two runs of {run.model} on {run.dataset}: keep one per pair")
        seen.add((run.model, run.dataset))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(runs)
    plots = report.plots(out_dir)
    path = out_dir / "report.md"
    path.write_text(report.render(plots))
    return path


def pct(x: float | None) -> str:
    """0.0607 -> '6.07%'."""
    return DASH if x is None else f"{100 * x:.2f}%"


def sci(x: float) -> str:
    """0.0005 -> '5e-4', 1e-5 -> '1e-5', 0.01 -> '0.01'."""
    if x == 0 or abs(x) >= 1e-2:
        return f"{x:g}"
    mantissa, exponent = f"{x:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def dataset_label(name: str) -> str:
    """'amazon_beauty' -> 'Amazon Beauty'."""
    return " ".join(w if w[:1].isupper() else w.capitalize() for w in re.split(r"[_\-\s]+", name))


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "dataset"


class Report:
    """Tables over a (dataset x model) grid of runs; datasets and models in first-seen order."""

    def __init__(self, runs: Sequence[RunResult]) -> None:
        self.runs = list(runs)
        self.datasets = list(dict.fromkeys(r.dataset for r in runs))
        self.models = list(dict.fromkeys(r.model for r in runs))
        self.grid = {(r.dataset, r.model): r for r in runs}
        self.labels = {r.model: r.label for r in runs}

    # ---- plots -------------------------------------------------------------------------------

    def plots(self, out_dir: Path) -> dict[str, list[Path]]:
        """Write the PNGs; return their paths by kind ("recall", "cold_vs_warm")."""
        recall = []
        by_dataset = {}
        for ds in self.datasets:
            by_model = {
                self.labels[m]: self.grid[ds, m].metrics.get("test", {})
                for m in self.models
                if (ds, m) in self.grid
            }
            base = next(
                (r.metrics["random"]["test"] for r in self._runs_of(ds) if "random" in r.metrics),
                None,
            )
            recall.append(
                plot_recall_per_track(
                    by_model,
                    out_dir / f"recall_{slug(ds)}.png",
                    title=f"{dataset_label(ds)}: Recall@K per track",
                    baseline=base,
                )
            )
            by_dataset[dataset_label(ds)] = by_model
        return {
            "recall": recall,
            "cold_vs_warm": [plot_cold_vs_warm(by_dataset, out_dir / "cold_vs_warm.png")],
        }

    # ---- rendering ---------------------------------------------------------------------------

    def render(self, plots: dict[str, list[Path]]) -> str:
        names = ", ".join(self.labels[m] for m in self.models)
        places = ", ".join(dataset_label(d) for d in self.datasets)
        lines = [
            "# Training Results Report",
            "",
            f"Evaluation of {names} on {places}. Full ranking, training items masked; "
            "NDCG with the standard IDCG. The random column ranks by uniform random scores; "
            "⚠️ marks a result that does not beat it.",
            "",
            "## Configuration Summary",
            "",
            *self._config_table(),
            "",
            *self._runs_table(),
            "",
            "---",
            "",
            "## Track 1: Warm Performance",
            "",
            "Standard test set with items seen during training.",
            "",
            "### Recall@K",
            "",
            *self._k_table("warm", "recall", "R"),
            "",
            "### NDCG@K",
            "",
            *self._k_table("warm", "ndcg", "N"),
            "",
            *[f"![Recall@K per track]({p.name})" for p in plots.get("recall", [])],
            "",
            "---",
            "",
            "## Track 2: User Robustness",
            "",
            "Warm track segmented by the number of training interactions (users without any are "
            "left out of every track).",
            "",
            "### Sparse Users (≤5 training interactions)",
            "",
            *self._segment_table("sparse"),
            "",
            "### Active Users (≥20 training interactions)",
            "",
            *self._segment_table("active"),
            "",
            "---",
            "",
            "## Track 3: Cold-Start Performance (Inductive Mode)",
            "",
            "Items **never seen** during training; their embeddings come from modal features only. "
            "Truth: each user's interactions with the cold test items.",
            "",
            *self._cold_section("cold_only", "Cold-only pool", "only the cold items are ranked"),
            *self._cold_section(
                "cold_all", "All-items pool", "cold and warm items compete (training items masked)"
            ),
            "> Cold-only numbers are inflated by the small pool: compare models within a pool, "
            "not cold/warm ratios across pools.",
            "",
            *[f"![Cold vs warm Recall@20]({p.name})" for p in plots.get("cold_vs_warm", [])],
            "",
            "---",
            "",
            *self._diagnostics_section(),
            *self._ensemble_section(),
            "## Model Comparison Summary",
            "",
            *self._summary_table(),
            "",
        ]
        return "\n".join(lines)

    def _diagnostics_section(self) -> list[str]:
        """Issue 3 item 4: the model's own cold path next to the projector; only runs that have
        `diagnostics` in metrics.json (DiffMM), nothing at all when none has."""
        runs = [r for r in self.runs if r.metrics.get("diagnostics")]
        if not runs:
            return []
        out = [
            "## DiffMM cold start: before and after",
            "",
            "**Before**: the original model's own path for an item with no interaction "
            "(MODELS.md 2: norm f_m(x) at self-loop weight 1 plus an untrained E_i; the denoisers "
            "have no column for it, so no generated edge reaches it). **After**: the modal "
            'projector, norm-calibrated. Same split, same users, cold test items. "w/o E_i" is '
            "the native path without the untrained id vector (MODELS.md fix d). "
            "cos(modal, diffusion) is the seed's diagnostic: the direct modal projection against "
            "what the generated graphs contribute (cold items, then warm items for reference).",
            "",
            "| Dataset | Model | Cold-only R@20 before | after | All-items R@20 before "
            "| before w/o E_i | after | cos(modal, diffusion) cold / warm "
            "| cos(native, projector) | Norm / warm before / after |",
            "|---------|-------|------|------|------|------|------|------|------|------|",
        ]
        for r in runs:
            d = r.metrics["diagnostics"]
            cos = d.get("cos_modal_vs_diffusion", {})
            cells = [
                dataset_label(r.dataset),
                r.label,
                _r20(d, "before", "cold_only"),
                _r20(d, "after", "cold_only"),
                _r20(d, "before", "cold_all"),
                _r20(d, "native_without_id", "cold_all"),
                _r20(d, "after", "cold_all"),
                f"{_fmt(cos.get('cold'))} / {_fmt(cos.get('warm'))}",
                _fmt(d.get("cos_native_vs_projector")),
                f"{_fmt(d.get('norm_ratio_before'))} / {_fmt(d.get('norm_ratio_after'))}",
            ]
            out.append(_line(cells))
        return [*out, "", "---", ""]

    def _ensemble_section(self) -> list[str]:
        """Runs written by `coldrec ensemble`: their members and the weight chosen on validation."""
        runs = [r for r in self.runs if r.metrics.get("members")]
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
            out.append(_line([dataset_label(r.dataset), r.label, a, b, _fmt(r.metrics["alpha"])]))
        return [*out, "", "---", ""]

    def _runs_of(self, ds: str) -> list[RunResult]:
        return [self.grid[ds, m] for m in self.models if (ds, m) in self.grid]

    def _config_table(self) -> list[str]:
        rows: list[tuple[str, Callable[[RunResult], str]]] = [
            ("Embedding Dimension", lambda r: _get(r.config, "model", "dim")),
            ("GCN Layers", lambda r: _get(r.config, "model", "n_layers")),
            ("Batch Size", lambda r: _get(r.config, "train", "batch_size")),
            ("Learning Rate", lambda r: _num(r.config, sci, "train", "lr")),
            ("L2 Regularisation", lambda r: _num(r.config, sci, "model", "reg")),
            ("Projection MLP", _mlp),
            ("Projection Dropout", lambda r: _get(r.config, "model", "projector", "dropout")),
            ("Modalities", _modalities),
            ("Max Epochs", lambda r: _get(r.config, "train", "epochs")),
            ("Seed", lambda r: _get(r.config, "train", "seed")),
            ("Cold Fraction", lambda r: _get(r.config, "train", "cold_fraction")),
        ]
        out = ["| Parameter | Value |", "|-----------|-------|"]
        for name, fn in rows:
            groups: dict[str, list[str]] = {}
            for r in self.runs:
                groups.setdefault(fn(r), []).append(f"{r.label} · {dataset_label(r.dataset)}")
            if len(groups) == 1:
                value = next(iter(groups))
            else:
                value = "; ".join(f"{v} ({', '.join(who)})" for v, who in groups.items())
            out.append(f"| {name} | {value} |")
        return out

    def _runs_table(self) -> list[str]:
        out = [
            "| Model | Dataset | Epochs Run | Best Epoch | Train Time | Median Epoch |",
            "|-------|---------|------------|------------|------------|--------------|",
        ]
        for r in self.runs:
            m = r.metrics
            out.append(
                f"| {r.label} | {dataset_label(r.dataset)} | {m.get('epochs_run', DASH)} "
                f"| {m.get('best_epoch', DASH)} | {_seconds(m.get('train_seconds'))} "
                f"| {_seconds(m.get('epoch_seconds_median'))} |"
            )
        return out

    def _header(self, first: list[str], suffix: str = "") -> list[str]:
        cols = [*first, *(f"{self.labels[m]}{suffix}" for m in self.models)]
        cols += [f"Random{suffix}", "Best"]
        return [
            "| " + " | ".join(cols) + " |",
            "|" + "|".join("-" * (len(c) + 2) for c in cols) + "|",
        ]

    def _row(self, ds: str, track: str, key: str) -> list[str]:
        """Cells of one metric row: the models (winners bold), the random baseline, Best."""
        values = {
            m: self.grid[ds, m].value(track, key) for m in self.models if (ds, m) in self.grid
        }
        present = [round(v, 6) for v in values.values() if v is not None]
        top = max(present) if present else None
        winners = [m for m, v in values.items() if v is not None and round(v, 6) == top]
        rnd = next((r.random_value(track, key) for r in self._runs_of(ds)), None)
        cells = []
        for m in self.models:
            v = values.get(m)
            cell = f"**{pct(v)}**" if m in winners and len(present) > 1 else pct(v)
            cells.append(cell + _warn(v, rnd))
        best = "/".join(self.labels[m] for m in winners) if winners else DASH
        return [*cells, pct(rnd), best]

    def _k_table(self, track: str, metric: str, short: str) -> list[str]:
        out = self._header(["Dataset", "Metric"])
        for ds in self.datasets:
            for i, k in enumerate(KS):
                name = f"**{dataset_label(ds)}**" if i == 0 else ""
                cells = self._row(ds, track, f"{metric}@{k}")
                out.append(_line([name, f"{short}@{k}", *cells]))
        return out

    def _n_users(self, ds: str, track: str) -> str:
        counts = list(
            dict.fromkeys(
                int(n) for r in self._runs_of(ds) if (n := r.value(track, "n_users")) is not None
            )
        )
        return " / ".join(f"{n:,}" for n in counts) if counts else DASH

    def _segment_table(self, track: str) -> list[str]:
        out = self._header(["Dataset", "n_users"], " R@20")
        for ds in self.datasets:
            cells = self._row(ds, track, "recall@20")
            out.append(_line([dataset_label(ds), self._n_users(ds, track), *cells]))
        return out

    def _cold_section(self, track: str, title: str, what: str) -> list[str]:
        users = ", ".join(f"{dataset_label(d)} {self._n_users(d, track)}" for d in self.datasets)
        return [
            f"### {title}",
            "",
            f"Here {what}. Evaluated users: {users}.",
            "",
            "#### Recall@K",
            "",
            *self._k_table(track, "recall", "R"),
            "",
            "#### NDCG@K",
            "",
            *self._k_table(track, "ndcg", "N"),
            "",
        ]

    def _summary_table(self) -> list[str]:
        criteria = [
            ("Warm Recall", "warm"),
            ("Cold Recall (cold-only pool)", "cold_only"),
            ("Cold Recall (all items)", "cold_all"),
            ("Sparse Users", "sparse"),
            ("Active Users", "active"),
        ]
        out = ["| Criterion | Winner | Notes |", "|-----------|--------|-------|"]
        for name, track in criteria:
            out.append(self._summary_row(name, track))
        out.append(self._speed_row())
        return out

    def _summary_row(self, name: str, track: str) -> str:
        """Winner of Recall@20 on each dataset; the model winning most datasets wins."""
        wins: dict[str, int] = {}
        notes = []
        for ds in self.datasets:
            values = {
                m: v
                for m in self.models
                if (ds, m) in self.grid
                if (v := self.grid[ds, m].value(track, "recall@20")) is not None
            }
            if not values:
                continue
            best = max(values, key=lambda m: values[m])
            wins[best] = wins.get(best, 0) + 1
            rnd = next((r.random_value(track, "recall@20") for r in self._runs_of(ds)), None)
            notes.append(
                f"{dataset_label(ds)}: {self.labels[best]} {pct(values[best])} R@20 "
                f"(random {pct(rnd)}){_warn(values[best], rnd)}"
            )
        return (
            f"| **{name}** | {self._winner(wins)} | {'; '.join(notes) or 'no run has this track'} |"
        )

    def _speed_row(self) -> str:
        wins: dict[str, int] = {}
        notes = []
        for ds in self.datasets:
            times = {
                m: float(t)
                for m in self.models
                if (ds, m) in self.grid
                if (t := self.grid[ds, m].metrics.get("train_seconds")) is not None
            }
            if not times:
                continue
            fastest = min(times, key=lambda m: times[m])
            wins[fastest] = wins.get(fastest, 0) + 1
            each = ", ".join(f"{self.labels[m]} {_seconds(t)}" for m, t in times.items())
            notes.append(f"{dataset_label(ds)}: {each}")
        return f"| **Training Speed** | {self._winner(wins)} | {'; '.join(notes) or DASH} |"

    def _winner(self, wins: dict[str, int]) -> str:
        if not wins:
            return DASH
        top = max(wins.values())
        leaders = [self.labels[m] for m, w in wins.items() if w == top]
        if len(leaders) == 1 and len(wins) == 1:
            return f"**{leaders[0]}**"
        return "/".join(leaders) if len(leaders) < len(self.models) else "Mixed"


def _line(cells: Sequence[str]) -> str:
    """A Markdown table row; an empty cell renders as `| |` like the seed."""
    return ("| " + " | ".join(cells) + " |").replace("|  |", "| |")


def _get(config: dict[str, Any], *keys: str) -> str:
    node: Any = config
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            return DASH
        node = node[k]
    return str(node)


def _num(config: dict[str, Any], fmt: Callable[[float], str], *keys: str) -> str:
    raw = _get(config, *keys)
    try:
        return fmt(float(raw))
    except ValueError:
        return raw


def _mlp(r: RunResult) -> str:
    dims = r.config.get("modal_dims") or {}
    d_in = sum(int(v) for v in dims.values()) if dims else DASH
    hidden = _get(r.config, "model", "projector", "hidden")
    return f"{d_in} → {hidden} → {_get(r.config, 'model', 'dim')}"


def _modalities(r: RunResult) -> str:
    dims = r.config.get("modal_dims") or {}
    return ", ".join(f"{k} {v}" for k, v in dims.items()) or DASH


def _r20(diagnostics: dict[str, Any], side: str, track: str) -> str:
    """Recall@20 of one side ("before", "after", ...) of a run's diagnostics, as a percentage."""
    return pct(diagnostics.get(side, {}).get(track, {}).get("recall@20"))


def _fmt(x: Any) -> str:
    """A plain number with 3 decimals, or the dash."""
    return DASH if x is None else f"{float(x):.3f}"


def _seconds(x: Any) -> str:
    if x is None:
        return DASH
    return f"{float(x):,.1f} s" if float(x) >= 10 else f"{float(x):.2f} s"


def _warn(value: float | None, baseline: float | None) -> str:
    """' ⚠️' when a model does not beat the random ranking (the seed's collapse marker)."""
    return " ⚠️" if value is not None and baseline is not None and value <= baseline else ""
