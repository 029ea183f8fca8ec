"""Collect the cold-training ablation (commands.sh) into results.json and print README's tables.

Reads RUNS/refit/<dataset>_<config>_s<seed>.json (`python -m training.fitting.refit_projector`:
a fresh projector on a base run's saved backbone, one file per seed), the full runs'
RUNS/sci-micro-<config>/metrics.json beside the base run's (BASE_RUN/metrics.json) and
RUNS/missing/<run>.json (`python -m training.evaluation.missing_modalities`). Writes
OUT/results.json and the Markdown tables of OUT/README.md (each between its
`<!-- table:NAME -->` and `<!-- /table:NAME -->` markers; NAME refit, runs, missing), and prints
them. Recall@20 throughout; refit
figures are means over seeds. The choice is made on validation cold_all Recall@20: per dataset
the refit configuration with the highest mean; a full-run option is kept where it raises it
without losing more than 2% relative validation warm Recall@20 (issue 13). Test is reported.

usage: table.py RUNS OUT BASE_RUN
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

COLD = ("cold_only", "cold_all")
TRACKS = ("warm", *COLD)
PHASES = ("valid", "test")
CHOICE = ("valid", "cold_all")  # what every choice here maximises
WARM_LOSS_ALLOWED = 0.02  # relative validation warm Recall@20 a full-run option may cost
DATASETS = {
    "sci": "Amazon Scientific (text+image)",
    "tiktok": "TikTok (image+audio)",
    "beauty": "Amazon Beauty (MiniLM text)",
}
BASELINE = "off"  # the refit every other is compared with: every option 0
ORDER = (
    "off",
    "rating0.1",
    "rating0.3",
    "rating1",
    "ranking1",
    "ranking5",
    "identification1",
    "modality0.3",
)  # the tables' row order; others after, by name


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _means(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {
        phase: {t: round(statistics.mean(r[phase][t] for r in rows), 6) for t in COLD}
        for phase in PHASES
    }


def refits(runs: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{dataset: {config: {"seeds", "used", "valid", "test", "per_seed", ...}}}. "valid" and
    "test" are means over the seeds every configuration of the dataset has (`common_seeds`), so
    that configurations compare on the same projector starts; a configuration run on more seeds
    also has "every_seed", the means over all of them."""
    groups: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for path in sorted((runs / "refit").glob("*_s[0-9].json")):
        stem, seed = path.stem.rsplit("_s", 1)
        dataset, config = stem.split("_", 1)
        groups[dataset, config][int(seed)] = json.loads(path.read_text())
    common: dict[str, set[int]] = {}
    for (dataset, _), rows in groups.items():
        common[dataset] = common.get(dataset, set(rows)) & set(rows)
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)

    def order(key: tuple[str, str]) -> tuple[int, str, int, str]:
        dataset, config = key
        rank = list(DATASETS).index(dataset) if dataset in DATASETS else len(DATASETS)
        return rank, dataset, ORDER.index(config) if config in ORDER else len(ORDER), config

    for (dataset, config), rows in sorted(groups.items(), key=lambda kv: order(kv[0])):
        seeds = sorted(rows)
        shared = sorted(common[dataset])
        entry: dict[str, Any] = {
            "seeds": seeds,
            "common_seeds": shared,
            "used": rows[seeds[0]]["cold_training"]["used"],
            **_means([rows[s] for s in shared]),
        }
        if len(seeds) > len(shared):
            entry["every_seed"] = _means([rows[s] for s in seeds])
        entry["per_seed"] = {str(s): {phase: rows[s][phase] for phase in PHASES} for s in seeds}
        entry["projector_epochs"] = [rows[s]["projector"]["best_epoch"] for s in seeds]
        entry["seconds"] = [rows[s]["seconds"] for s in seeds]
        out[dataset][config] = entry
    return dict(out)


def choose_refit(configs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The configuration with the best mean validation cold_all Recall@20 over the seeds every
    configuration has."""
    best = max(configs, key=lambda k: configs[k][CHOICE[0]][CHOICE[1]])
    base = configs.get(BASELINE)
    ratio = {
        phase: round(configs[best][phase]["cold_all"] / base[phase]["cold_all"], 4)
        for phase in PHASES
        if base
    }
    return {
        "config": best,
        "seeds": configs[best]["common_seeds"],
        "rule": "best mean validation cold_all Recall@20 over the seeds every setting has",
        "cold_all_vs_off": ratio,
    }


def run_figures(run_dir: Path) -> dict[str, Any]:
    """A full run's options, its reported tracks (simulated edges as it chose them) and its
    projector alone (the edges' `without`), epochs and seconds."""
    m = json.loads((run_dir / "metrics.json").read_text())
    section = m.get("cold_training", {})
    reported = {p: {t: round(m[p][t]["recall@20"], 6) for t in TRACKS} for p in PHASES}
    edges = m.get("simulated_edges") or {}
    without = edges.get("without")
    projector_alone = (
        {
            p: {
                **{t: round(without[p][t]["recall@20"], 6) for t in COLD},
                "warm": reported[p]["warm"],
            }
            for p in PHASES
        }
        if without
        else reported
    )
    return {
        "dir": str(run_dir),
        "used": {k: section[k] for k in section.get("used", [])},
        "reported": reported,
        "projector_alone": projector_alone,
        "simulated_edges": edges.get("chosen"),
        "best_epoch": m["best_epoch"],
        "epochs_run": m["epochs_run"],
        "stopped_by": m.get("stopped_by"),
        "projector_epoch": m["projector"]["best_epoch"],
        "train_seconds": m["train_seconds"],
        "total_seconds": m["total_seconds"],
    }


def full_runs(runs: Path, base_run: Path) -> dict[str, dict[str, Any]]:
    """The base run first, then each RUNS/sci-micro-*, each with whether validation keeps it."""
    out = {"sci-micro-base": run_figures(base_run)}
    for metrics_path in sorted(runs.glob("sci-micro-*/metrics.json")):
        out[metrics_path.parent.name] = run_figures(metrics_path.parent)
    base = out["sci-micro-base"]["reported"]["valid"]
    for name, r in out.items():
        if name == "sci-micro-base":
            continue
        valid = r["reported"]["valid"]
        r["kept"] = bool(
            valid["cold_all"] > base["cold_all"]
            and valid["warm"] >= (1 - WARM_LOSS_ALLOWED) * base["warm"]
        )
    return out


def missing(runs: Path) -> dict[str, dict[str, Any]]:
    """Per run: each modality subset's test cold Recall@20 and its share of the full one."""
    out = {}
    for path in sorted((runs / "missing").glob("*.json")):
        d = json.loads(path.read_text())
        out[path.stem] = {
            "full_matches_run": d.get("full_matches_run"),
            "variants": {
                name: {
                    **{t: round(v[t]["recall@20"], 6) for t in COLD},
                    "share": v["share_of_full"],
                    "zero_items": v["zero_items"],
                }
                for name, v in d["variants"].items()
            },
        }
    return out


def render_refits(results: dict[str, Any]) -> list[str]:
    lines = []
    for dataset, configs in results["refit"].items():
        chosen = results["chosen"][dataset]["config"]
        off = configs.get(BASELINE, {}).get("per_seed", {})
        extra = any("every_seed" in r for r in configs.values())
        shared = next(iter(configs.values()))["common_seeds"]
        lines += [
            f"**{DATASETS.get(dataset, dataset)}**, seed{'s' * (len(shared) > 1)} "
            f"{', '.join(map(str, shared))}",
            "",
            "| projector fit | valid cold_only | valid cold_all "
            "| valid cold_all - off, per seed (points) | test cold_only | test cold_all "
            "| projector epochs |" + (" valid / test cold_all, every seed |" if extra else ""),
            "|---|---|---|---|---|---|---|" + ("---|" if extra else ""),
        ]
        for name, r in configs.items():
            deltas = ", ".join(
                f"{100 * (s['valid']['cold_all'] - off[seed]['valid']['cold_all']):+.2f}"
                for seed, s in r["per_seed"].items()
                if seed in off
            )
            label = f"**{name}**" if name == chosen else name
            row = (
                f"| {label} | {pct(r['valid']['cold_only'])} "
                f"| {pct(r['valid']['cold_all'])} | {deltas if name != BASELINE else ''} "
                f"| {pct(r['test']['cold_only'])} | {pct(r['test']['cold_all'])} "
                f"| {', '.join(map(str, r['projector_epochs']))} |"
            )
            if extra:
                every = r.get("every_seed")
                row += (
                    f" {pct(every['valid']['cold_all'])} / {pct(every['test']['cold_all'])}"
                    f" (seeds {', '.join(map(str, r['seeds']))}) |"
                    if every
                    else " |"
                )
            lines.append(row)
        lines.append("")
    return lines


def render_runs(results: dict[str, Any]) -> list[str]:
    lines = [
        "| full run (Scientific) | view | valid warm | valid cold_only | valid cold_all "
        "| test warm | test cold_only | test cold_all | best epoch / run | kept |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["runs"].items():
        for view in ("reported", "projector_alone"):
            cells = [pct(r[view][p][t]) for p in PHASES for t in TRACKS]
            kept = ("yes" if r.get("kept") else "no") if "kept" in r else "base"
            lines.append(
                f"| {name} | {view.replace('_', ' ')} | {' | '.join(cells)} "
                f"| {r['best_epoch']} / {r['epochs_run']} | {kept} |"
            )
    return lines + [""]


def render_missing(results: dict[str, Any]) -> list[str]:
    lines = [
        "| run | cold items with | test cold_only (share) | test cold_all (share) |",
        "|---|---|---|---|",
    ]
    for run, d in results["missing"].items():
        for name, v in d["variants"].items():
            only, alls = (f"{pct(v[t])} ({100 * v['share'].get(t, 0):.1f}%)" for t in COLD)
            lines.append(f"| {run} | {name} | {only} | {alls} |")
    return lines + [""]


def fill(readme: Path, tables: dict[str, list[str]]) -> None:
    """Rewrite each `<!-- table:NAME -->` ... `<!-- /table:NAME -->` block of `readme`."""
    if not readme.exists():
        return
    text = readme.read_text()
    for name, lines in tables.items():
        block = "\n".join([f"<!-- table:{name} -->", *lines, f"<!-- /table:{name} -->"])
        pattern = re.compile(rf"<!-- table:{name} -->.*?<!-- /table:{name} -->", re.S)
        text = pattern.sub(lambda _, block=block: block, text)
    readme.write_text(text)


def main() -> None:
    runs, out, base_run = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    results: dict[str, Any] = {"refit": refits(runs)}
    results["chosen"] = {d: choose_refit(c) for d, c in results["refit"].items()}
    results["runs"] = full_runs(runs, base_run) if (base_run / "metrics.json").exists() else {}
    results["missing"] = missing(runs)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    tables = {
        "refit": render_refits(results),
        "runs": render_runs(results) if results["runs"] else [],
        "missing": render_missing(results) if results["missing"] else [],
    }
    fill(out / "README.md", tables)
    sys.stdout.write("\n".join(line for lines in tables.values() for line in lines))


if __name__ == "__main__":
    main()
