"""The Markdown report: every run's metrics.json and config.json rendered in the seed's shape.

One run per (model, dataset); several models and datasets go into one report. Winners are the
models only (the random baseline is shown beside them and never wins); ⚠️ marks a model result
that does not beat the random ranking.

The page is assembled here; `training.report.tables` formats numbers and builds the grid tables,
`training.report.sections` the optional sections and the closing summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from training.report.field import Field, field_section, load_field
from training.report.plots import plot_cold_vs_warm, plot_recall_per_track
from training.report.run_result import ReportError, RunResult, load_run
from training.report.sections import (
    content_ratio_table,
    diagnostics_section,
    ensemble_section,
    summary_table,
)
from training.report.tables import DASH, RunGrid, dataset_label, slug

CONTENT_DEFINITION = (
    "a user is the mean of the L2-normalised content vectors of their training items, an item "
    "scores by the cosine with its own (the text modality when the dataset has one: MiniLM of "
    "the raw text, or the text vectors it ships; else every modality, each L2-normalised, "
    "concatenated)."
)


def write_report(run_dirs: Sequence[Path], out_dir: Path, fields: Sequence[Path] = ()) -> Path:
    """Render `out_dir/report.md` and its PNG plots from the runs; return the report's path.
    `fields`: other systems' figures on our split to show beside the runs (report.field), one
    section per file, in the order given."""
    runs = [load_run(Path(d)) for d in run_dirs]
    if not runs:
        raise ReportError("no run to report")
    seen: set[tuple[str, str]] = set()
    for run in runs:
        if (run.model, run.dataset) in seen:
            raise ReportError(f"two runs of {run.model} on {run.dataset}: keep one per pair")
        seen.add((run.model, run.dataset))
    beside = [load_field(Path(f)) for f in fields]
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(runs, beside)
    plots = report.plots(out_dir)
    path = out_dir / "report.md"
    path.write_text(report.render(plots))
    return path


class Report(RunGrid):
    """The whole page: the grid's tables in the seed's order, with the plots and sections."""

    def __init__(self, runs: Sequence[RunResult], fields: Sequence[Field] = ()) -> None:
        super().__init__(runs)
        self.fields = list(fields)

    def plots(self, out_dir: Path) -> dict[str, list[Path]]:
        """Write the PNGs; return their paths by kind ("recall", "cold_vs_warm")."""
        recall = []
        by_dataset = {}
        for ds in self.datasets:
            by_model = {
                self.labels[m]: self.grid[ds, m].tracks("test")
                for m in self.models
                if (ds, m) in self.grid
            }
            base = self.random_baseline(ds) or None
            recall.append(
                plot_recall_per_track(
                    by_model,
                    out_dir / f"recall_{slug(ds)}.png",
                    title=f"{dataset_label(ds)}: Recall@K per track",
                    baseline=base,
                    content=self.content_baseline(ds) or None,
                )
            )
            by_dataset[dataset_label(ds)] = by_model
        if not self.has_cold_items():
            return {"recall": recall}
        return {
            "recall": recall,
            "cold_vs_warm": [plot_cold_vs_warm(by_dataset, out_dir / "cold_vs_warm.png")],
        }

    def has_cold_items(self) -> bool:
        """Whether any run's split held cold items (a dataset's own split holds none)."""
        return any("cold_all" in r.tracks("test") for r in self.runs)

    def render(self, plots: dict[str, list[Path]]) -> str:
        """The Markdown page; `plots` are the PNGs from `plots`, linked by file name."""
        lines = [
            *self._intro(),
            *self._warm_track(plots),
            *self._user_track(),
            *self._cold_track(plots),
            *diagnostics_section(self.runs),
            *ensemble_section(self.runs),
            "## Model Comparison Summary",
            "",
            *summary_table(self),
            "",
            *self._content_ratios(),
            *(line for field in self.fields for line in field_section(field, self)),
        ]
        return "\n".join(lines)

    def _content_ratios(self) -> list[str]:
        table = content_ratio_table(self)
        if not table:
            return []
        return [
            "### Against the content-only baseline",
            "",
            "The best model's test Recall@20 over the content baseline's, per dataset and pool "
            "(issue 13 asks for at least 1.5x in the cold-only pool).",
            "",
            *table,
            "",
        ]

    def _intro(self) -> list[str]:
        names = ", ".join(self.labels[m] for m in self.models)
        sources = ", ".join(f"{dataset_label(d)} {self.content_source(d)}" for d in self.datasets)
        older = f" {DASH}: runs from before it." if f" {DASH}" in sources else ""
        places = ", ".join(dataset_label(d) for d in self.datasets)
        floored = [f"{dataset_label(r.dataset)} {r.label}" for r in self.runs if r.floor_kept]
        served = (
            "Each run's figures are what its bundle serves: with the content floor where "
            f"validation kept it ({', '.join(floored)}; metrics.json `content_floor`)."
            if floored
            else ""
        )
        return [
            "# Training Results Report",
            "",
            f"Evaluation of {names} on {places}. Full ranking, training items masked; "
            "NDCG with the standard IDCG. The random column ranks by uniform random scores; "
            "⚠️ marks a result that does not beat it.",
            "",
            f"The content column needs no training: {CONTENT_DEFINITION} Content read: "
            f"{sources}.{older}",
            "",
            *([served, ""] if served else []),
            "## Configuration Summary",
            "",
            *self.config_table(),
            "",
            *self.runs_table(),
            "",
            "---",
            "",
        ]

    def _warm_track(self, plots: dict[str, list[Path]]) -> list[str]:
        return [
            "## Track 1: Warm Performance",
            "",
            "Standard test set with items seen during training.",
            "",
            "### Recall@K",
            "",
            *self.k_table("warm", "recall", "R"),
            "",
            "### NDCG@K",
            "",
            *self.k_table("warm", "ndcg", "N"),
            "",
            *[f"![Recall@K per track]({p.name})" for p in plots.get("recall", [])],
            "",
            "---",
            "",
        ]

    def _user_track(self) -> list[str]:
        return [
            "## Track 2: User Robustness",
            "",
            "Warm track segmented by the number of training interactions (users without any are "
            "left out of every track).",
            "",
            "### Sparse Users (≤5 training interactions)",
            "",
            *self.segment_table("sparse"),
            "",
            "### Active Users (≥20 training interactions)",
            "",
            *self.segment_table("active"),
            "",
            "---",
            "",
        ]

    def _cold_track(self, plots: dict[str, list[Path]]) -> list[str]:
        if not self.has_cold_items():
            return [
                "## Track 3: Cold-Start Performance (Inductive Mode)",
                "",
                "No run here has cold items: each was trained and tested on a split without them "
                "(a dataset's own split).",
                "",
                "---",
                "",
            ]
        return [
            "## Track 3: Cold-Start Performance (Inductive Mode)",
            "",
            "Items **never seen** during training; their embeddings come from modal features only. "
            "Truth: each user's interactions with the cold test items.",
            "",
            *self.cold_section("cold_only", "Cold-only pool", "only the cold items are ranked"),
            *self.cold_section(
                "cold_all", "All-items pool", "cold and warm items compete (training items masked)"
            ),
            "> Cold-only numbers are inflated by the small pool: compare models within a pool, "
            "not cold/warm ratios across pools.",
            "",
            *[f"![Cold vs warm Recall@20]({p.name})" for p in plots.get("cold_vs_warm", [])],
            "",
            "---",
            "",
        ]
