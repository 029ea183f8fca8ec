"""benchmarks/bench_models_scale.py end to end on tiny generated data (no speed asserted): one
row per model with s/epoch, CPU s/epoch and steps/s, `--set` reaching the children's settings,
epochs to converge read from training runs, the papers' figures beside."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_joins_measurements_runs_and_papers_figures(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "lightgcn").mkdir(parents=True)
    metrics = {"best_epoch": 3, "epochs_run": 8, "stopped_by": "patience"}
    (runs / "lightgcn" / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable, "-m", "benchmarks.bench_models_scale",
        "--users", "120", "--items", "60", "--interactions", "900", "--modal", "text=8",
        "--models", "lightgcn,diffmm", "--dim", "16", "--layers", "1", "--batch", "256",
        "--steps", "0", "--threads", "1",
        "--set", "model.diffmm.precision=bf16", "--set", "model.diffmm.denoiser_hidden=32",
        "--set-model", "diffmm:model.n_layers=2", "--lock", str(tmp_path / "lock"),
        "--runs", str(runs), "--paper", "diffmm=53", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines()[4:]}
    assert "load average" in done.stdout
    assert "best 3 of 8 (patience)" in rows["lightgcn"] and rows["lightgcn"].endswith("| - |")
    assert rows["diffmm"].endswith("| - | 53 |")
    saved = {r["model"]: r for r in json.loads(out.read_text())["results"]}
    assert saved["diffmm"]["config"]["model"]["diffmm"]["precision"] == "bf16"
    assert saved["diffmm"]["config"]["model"]["n_layers"] == 2  # --set-model: diffmm alone
    assert saved["lightgcn"]["config"]["model"]["n_layers"] == 1
    assert saved["lightgcn"]["config"]["train"]["batch_size"] == 256
    for r in saved.values():
        steps = r["batches_per_epoch"]
        assert r["epoch_measured"] == 1 and steps == 4  # 900 draws, deduplicated, in 256s
        assert r["epoch_s"] > 0 and r["epoch_cpu_s"] > 0 and r["steps_per_s"] > 0
