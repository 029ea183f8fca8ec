"""Leave-one-dataset-out choice of `coldrec train`'s batch size and learning rate (issue 13).

Reads the candidates' MICRO runs (docs/results/defaults/runs/<dataset>/b<batch>-lr<lr>/, and the
models table's runs for 4096 / 2e-3) and prints Markdown: per run its validation Recall@20 as
served (warm, cold_only, cold_all), its test figures, and its warm validation curve (best epoch,
the peak, the last evaluation and the lowest after the peak, relative to the peak); then, for
each dataset held out, the candidate chosen on the two others and how it does on the third.

Score of a candidate on a dataset: the mean over warm, cold_only and cold_all of its validation
Recall@20 relative to the best candidate's on that dataset (1.0 = best on every track).
Validation only: test figures are printed, never used.

    python3 docs/results/defaults/table.py > docs/results/defaults/table.md
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root: run as a plain script

from training.report.run_result import RunResult, load_run  # noqa: E402
from training.report.tables import dataset_label  # noqa: E402

DATASETS = ("amazon_scientific_mm", "tiktok", "amazon_beauty")
CANDIDATES = ("b1024-lr5e-4", "b4096-lr1e-3", "b4096-lr2e-3")
TRACKS = ("warm", "cold_only", "cold_all")
MODELS_TABLE = HERE.parent / "models" / "runs"


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def run_of(ds: str, cand: str) -> RunResult | None:
    path = HERE / "runs" / ds / cand
    if cand == "b4096-lr2e-3":
        path = MODELS_TABLE / ds / "micro"
    if not (path / "metrics.json").is_file():
        return None
    run = load_run(path)
    train = run.config["train"]
    batch, lr = cand[1:].split("-lr")
    if int(train["batch_size"]) != int(batch) or float(train["lr"]) != float(lr):
        raise SystemExit(f"{path}: batch {train['batch_size']}, lr {train['lr']}, not {cand}")
    return run


def curve(run: RunResult) -> str:
    """best epoch, peak, last and lowest-after-peak warm validation Recall@20 (of the peak)."""
    values = [h["valid_recall@20"] for h in run.metrics["history"] if "valid_recall@20" in h]
    peak = max(values)
    after = values[values.index(peak) :]
    return (
        f"{run.metrics['best_epoch']} / {run.metrics['epochs_run']} | {100 * peak:.2f}% | "
        f"{after[-1] / peak:.3f} | {min(after) / peak:.3f}"
    )


def main() -> int:
    runs = {(ds, c): r for ds in DATASETS for c in CANDIDATES if (r := run_of(ds, c))}
    valid = {
        k: {t: r.value(t, "recall@20", "valid") or 0.0 for t in TRACKS} for k, r in runs.items()
    }
    score: dict[tuple[str, str], float] = {}
    for ds in DATASETS:
        have = [c for c in CANDIDATES if (ds, c) in runs]
        for c in have:
            best = {t: max(valid[ds, o][t] for o in have) for t in TRACKS}
            score[ds, c] = sum(valid[ds, c][t] / best[t] for t in TRACKS if best[t]) / len(TRACKS)
    out("## Every run (MICRO; Recall@20, validation as served / test)")
    out()
    out(
        "| Dataset | batch / lr | valid warm | valid cold_only | valid cold_all | score | "
        "test warm | test cold_only | test cold_all | best / run epochs | peak valid warm | "
        "last / peak | lowest after peak / peak |"
    )
    out("|" + "---|" * 13)
    for (ds, c), r in runs.items():
        v = " | ".join(f"{100 * valid[ds, c][t]:.2f}%" for t in TRACKS)
        t = " | ".join(f"{100 * (r.value(x, 'recall@20') or 0):.2f}%" for x in TRACKS)
        out(f"| {dataset_label(ds)} | {c} | {v} | {score[ds, c]:.3f} | {t} | {curve(r)} |")
    out()
    out("## Leave one dataset out")
    out()
    out(
        "| held out | chosen on the other two (their mean score) | its score there | best there |"
        " the old default's score there |"
    )
    out("|---|---|---|---|---|")
    for held in DATASETS:
        others = [d for d in DATASETS if d != held]
        complete = [c for c in CANDIDATES if all((d, c) in score for d in DATASETS)]
        if not complete:
            continue
        mean = {c: sum(score[d, c] for d in others) / len(others) for c in complete}
        chosen = max(complete, key=lambda c: mean[c])
        best = max(complete, key=lambda c: score[held, c])
        old = score.get((held, "b1024-lr5e-4"))
        out(
            f"| {dataset_label(held)} | {chosen} ({mean[chosen]:.3f}) | {score[held, chosen]:.3f} |"
            f" {best} ({score[held, best]:.3f}) | {old if old is None else f'{old:.3f}'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
