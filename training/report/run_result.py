"""One finished run as the report reads it back: its metrics.json and config.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_LABELS = {
    "lightgcn": "LightGCN",
    "lattice": "LATTICE",
    "micro": "MICRO",
    "diffmm": "DiffMM",
    "ensemble(lattice+micro)": "LATTICE+MICRO",
}


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

    @property
    def floor_kept(self) -> bool:
        """Whether validation kept the content floor: metrics.json `content_floor` then holds
        the floor's tracks (and only then)."""
        return bool(self.metrics.get("content_floor", {}).get("test"))

    def tracks(self, phase: str = "test") -> dict[str, Any]:
        """The phase's tracks as the run's bundle serves them: with the content floor where
        validation kept it (`floor_kept`), else the model's own (`test` / `valid`, which are
        before the floor)."""
        served = self.metrics["content_floor"].get(phase) if self.floor_kept else None
        return dict(served if served else self.metrics.get(phase, {}))

    def value(self, track: str, key: str, phase: str = "test") -> float | None:
        """A test (or valid) metric as served (`tracks`); None when the run lacks that track."""
        v = self.tracks(phase).get(track, {}).get(key)
        return None if v is None else float(v)


def load_run(run_dir: Path) -> RunResult:
    """Read `run_dir/metrics.json` and `run_dir/config.json`."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())
        return RunResult(run_dir, str(metrics["model"]), str(metrics["dataset"]), metrics, config)
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise ReportError(f"{run_dir}: not a finished run ({exc})") from exc
