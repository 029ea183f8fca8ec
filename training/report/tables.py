"""The report's number formatting and its grid tables (configuration, runs, metric per track).

Formatting helpers are plain functions; the tables live on `RunGrid`, the runs indexed by
(dataset, model), which `training.report.writer.Report` extends with the page assembly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from training.report.run_result import RunResult

KS = (10, 20, 50)
DASH = "–"


# ---- number and name formatting --------------------------------------------------------------


def pct(x: float | None) -> str:
    """0.0607 -> '6.07%'."""
    return DASH if x is None else f"{100 * x:.2f}%"


def sci(x: float) -> str:
    """0.0005 -> '5e-4', 1e-5 -> '1e-5', 0.01 -> '0.01'."""
    if x == 0 or abs(x) >= 1e-2:
        return f"{x:g}"
    mantissa, exponent = f"{x:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


DATASET_LABELS = {"tiktok": "TikTok", "amazon_scientific_mm": "Amazon Scientific (text+image)"}


def dataset_label(name: str) -> str:
    """'amazon_beauty' -> 'Amazon Beauty'; an ablation 'tiktok[audio]' -> 'TikTok [audio]'."""
    base, bracket, rest = name.partition("[")
    label = DATASET_LABELS.get(base) or " ".join(
        w if w[:1].isupper() else w.capitalize() for w in re.split(r"[_\-\s]+", base)
    )
    return f"{label} [{rest}" if bracket else label


def slug(name: str) -> str:
    """'Amazon Beauty' -> 'amazon_beauty': a dataset name safe in a file name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "dataset"


def fmt(x: Any) -> str:
    """A plain number with 3 decimals, or the dash."""
    return DASH if x is None else f"{float(x):.3f}"


def seconds(x: Any) -> str:
    """A duration in seconds: 2 decimals under 10 s, one decimal and thousands separators above."""
    if x is None:
        return DASH
    return f"{float(x):,.1f} s" if float(x) >= 10 else f"{float(x):.2f} s"


def warn(value: float | None, baseline: float | None) -> str:
    """' ⚠️' when a model does not beat the random ranking (the seed's collapse marker)."""
    return " ⚠️" if value is not None and baseline is not None and value <= baseline else ""


def table_line(cells: Sequence[str]) -> str:
    """A Markdown table row; an empty cell renders as `| |` like the seed."""
    return ("| " + " | ".join(cells) + " |").replace("|  |", "| |")


# ---- config.json lookups -----------------------------------------------------------------------


def _get(config: dict[str, Any], *keys: str) -> str:
    node: Any = config
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            return DASH
        node = node[k]
    return str(node)


def _num(config: dict[str, Any], formatter: Callable[[float], str], *keys: str) -> str:
    raw = _get(config, *keys)
    try:
        return formatter(float(raw))
    except ValueError:
        return raw


def _who(runs: list[RunResult], having: list[RunResult]) -> str:
    """The runs sharing one value, named by dataset when they are all of its runs in `having`."""
    names = []
    for dataset in dict.fromkeys(r.dataset for r in runs):
        mine = [r for r in runs if r.dataset == dataset]
        if len(mine) == sum(r.dataset == dataset for r in having):
            names.append(dataset_label(dataset))
        else:
            names += [f"{r.label} · {dataset_label(dataset)}" for r in mine]
    return ", ".join(names)


def _mlp(r: RunResult) -> str:
    dims = r.config.get("modal_dims") or {}
    d_in = sum(int(v) for v in dims.values()) if dims else DASH
    hidden = _get(r.config, "model", "projector", "hidden")
    return f"{d_in} → {hidden} → {_get(r.config, 'model', 'dim')}"


def _modalities(r: RunResult) -> str:
    dims = r.config.get("modal_dims") or {}
    return ", ".join(f"{k} {v}" for k, v in dims.items()) or DASH


CONFIG_ROWS: list[tuple[str, Callable[[RunResult], str]]] = [
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


# ---- tables over the (dataset x model) grid ----------------------------------------------------


class RunGrid:
    """Tables over a (dataset x model) grid of runs; datasets and models in first-seen order."""

    def __init__(self, runs: Sequence[RunResult]) -> None:
        self.runs = list(runs)
        self.datasets = list(dict.fromkeys(r.dataset for r in runs))
        self.models = list(dict.fromkeys(r.model for r in runs))
        self.grid = {(r.dataset, r.model): r for r in runs}
        self.labels = {r.model: r.label for r in runs}

    def runs_of(self, ds: str) -> list[RunResult]:
        """The runs on dataset `ds`, in model order."""
        return [self.grid[ds, m] for m in self.models if (ds, m) in self.grid]

    def random_baseline(self, ds: str) -> dict[str, dict[str, float]]:
        """The random ranking's test metrics on `ds`, per track: each track from the first run
        that has it (a run on a split without cold items has no cold tracks)."""
        return self._baseline(ds, "random")

    def random_value(self, ds: str, track: str, key: str) -> float | None:
        """One metric of the random baseline on `ds`; None when no run has the track."""
        v = self.random_baseline(ds).get(track, {}).get(key)
        return None if v is None else float(v)

    def content_baseline(self, ds: str) -> dict[str, dict[str, float]]:
        """The content-only baseline's test metrics on `ds` (metrics.json `content`, no
        training: training/evaluation/content_baseline.py), per track as `random_baseline`;
        empty when every run on `ds` predates it."""
        return self._baseline(ds, "content")

    def content_value(self, ds: str, track: str, key: str) -> float | None:
        """One metric of the content baseline on `ds`; None when no run has it."""
        v = self.content_baseline(ds).get(track, {}).get(key)
        return None if v is None else float(v)

    def content_source(self, ds: str) -> str:
        """The modalities the content baseline read on `ds` ("text", "audio+image"), or DASH."""
        for r in self.runs_of(ds):
            if source := r.metrics.get("content", {}).get("source"):
                return "+".join(source)
        return DASH

    def _baseline(self, ds: str, key: str) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for r in self.runs_of(ds):
            for track, values in (r.metrics.get(key) or {}).get("test", {}).items():
                out.setdefault(track, values)
        return out

    def config_table(self) -> list[str]:
        """One row per hyperparameter; differing values are listed with the runs that use them."""
        out = ["| Parameter | Value |", "|-----------|-------|"]
        for name, fn in CONFIG_ROWS:
            groups: dict[str, list[RunResult]] = {}
            for r in self.runs:
                value = fn(r)
                # An ensemble has its members' settings: it does not split a row.
                if value != DASH and "members" not in r.metrics:
                    groups.setdefault(value, []).append(r)
            if len(groups) <= 1:
                value = next(iter(groups), DASH)
            else:
                having = [r for rs in groups.values() for r in rs]
                value = "; ".join(f"{v} ({_who(rs, having)})" for v, rs in groups.items())
            out.append(f"| {name} | {value} |")
        return out

    def runs_table(self) -> list[str]:
        """Epochs, wall-clock time (backbone training, and the whole run with the projector and
        evaluation) and peak memory of every run."""
        out = [
            "| Model | Dataset | Epochs Run | Best Epoch | Stopped By | Train Time | Median Epoch "
            "| Run Time | Peak RSS |",
            "|-------|---------|------------|------------|------------|------------|--------------"
            "|----------|----------|",
        ]
        for r in self.runs:
            m = r.metrics
            rss = m.get("peak_rss_mib")
            out.append(
                f"| {r.label} | {dataset_label(r.dataset)} | {m.get('epochs_run', DASH)} "
                f"| {m.get('best_epoch', DASH)} | {m.get('stopped_by', DASH)} "
                f"| {seconds(m.get('train_seconds'))} "
                f"| {seconds(m.get('epoch_seconds_median'))} | {seconds(m.get('total_seconds'))} "
                f"| {DASH if rss is None else f'{rss / 1024:.2f} GiB'} |"
            )
        return out

    def header(self, first: list[str], suffix: str = "") -> list[str]:
        """Header and rule of a metric table: `first` columns, one per model, Random, Content,
        Best."""
        cols = [*first, *(f"{self.labels[m]}{suffix}" for m in self.models)]
        cols += [f"Random{suffix}", f"Content{suffix}", "Best"]
        return [
            "| " + " | ".join(cols) + " |",
            "|" + "|".join("-" * (len(c) + 2) for c in cols) + "|",
        ]

    def row(self, ds: str, track: str, key: str) -> list[str]:
        """Cells of one metric row: the models (winners bold), the random and content
        baselines, Best (models only)."""
        values = {
            m: self.grid[ds, m].value(track, key) for m in self.models if (ds, m) in self.grid
        }
        present = [round(v, 6) for v in values.values() if v is not None]
        top = max(present) if present else None
        winners = [m for m, v in values.items() if v is not None and round(v, 6) == top]
        rnd = self.random_value(ds, track, key)
        cells = []
        for m in self.models:
            v = values.get(m)
            cell = f"**{pct(v)}**" if m in winners and len(present) > 1 else pct(v)
            cells.append(cell + warn(v, rnd))
        best = "/".join(self.labels[m] for m in winners) if winners else DASH
        return [*cells, pct(rnd), pct(self.content_value(ds, track, key)), best]

    def k_table(self, track: str, metric: str, short: str) -> list[str]:
        """`metric`@K for every K in `KS`, one block of rows per dataset."""
        out = self.header(["Dataset", "Metric"])
        for ds in self.datasets:
            for i, k in enumerate(KS):
                name = f"**{dataset_label(ds)}**" if i == 0 else ""
                cells = self.row(ds, track, f"{metric}@{k}")
                out.append(table_line([name, f"{short}@{k}", *cells]))
        return out

    def n_users(self, ds: str, track: str) -> str:
        """The evaluated users of a track on `ds`; distinct counts joined by ' / '."""
        counts = list(
            dict.fromkeys(
                int(n) for r in self.runs_of(ds) if (n := r.value(track, "n_users")) is not None
            )
        )
        return " / ".join(f"{n:,}" for n in counts) if counts else DASH

    def segment_table(self, track: str) -> list[str]:
        """Recall@20 of one user segment, one row per dataset."""
        out = self.header(["Dataset", "n_users"], " R@20")
        for ds in self.datasets:
            cells = self.row(ds, track, "recall@20")
            out.append(table_line([dataset_label(ds), self.n_users(ds, track), *cells]))
        return out

    def cold_section(self, track: str, title: str, what: str) -> list[str]:
        """One cold-start pool: its evaluated users, then its Recall@K and NDCG@K tables."""
        users = ", ".join(f"{dataset_label(d)} {self.n_users(d, track)}" for d in self.datasets)
        return [
            f"### {title}",
            "",
            f"Here {what}. Evaluated users: {users}.",
            "",
            "#### Recall@K",
            "",
            *self.k_table(track, "recall", "R"),
            "",
            "#### NDCG@K",
            "",
            *self.k_table(track, "ndcg", "N"),
            "",
        ]
