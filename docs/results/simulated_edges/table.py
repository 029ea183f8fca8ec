"""Print the README's tables from the post-hoc JSONs of this folder (one per base run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRACKS = ("cold_only", "cold_all")


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def main(names: list[str]) -> None:
    lines: list[str] = []
    emit = lines.append
    runs = {n: json.loads((HERE / f"{n}.json").read_text()) for n in names}
    emit(
        "| run | chosen (source, K, alpha, norm) | valid objective | "
        + " | ".join(f"{ph} {t} without -> with" for ph in ("valid", "test") for t in TRACKS)
        + " | warm test R@20 without / with |"
    )
    emit("|---" * 8 + "|")
    for name, r in runs.items():
        c = r["chosen"]
        chosen = (
            f"{c['edges_source']}, {c['edges_k']}, {c['edges_alpha']}, {c['edges_norm']}"
            if c
            else "off"
        )
        cells = [
            f"{pct(r['without'][ph][t]['recall@20'])} -> {pct(r['with'][ph][t]['recall@20'])}"
            for ph in ("valid", "test")
            for t in TRACKS
        ]
        warm = r["warm_recall@20"]
        emit(
            f"| {name} | {chosen} | {r['best_objective']:.4f} | "
            + " | ".join(cells)
            + f" | {pct(warm['without']['test'])} / {pct(warm['with']['test'])} |"
        )
    emit("")
    emit(
        "Best validation grid point per source and per norm (objective; valid cold_only, cold_all):"
    )
    emit("")
    emit(
        "| run | "
        + " | ".join(("items", "users", "content", "norm projection", "norm warm"))
        + " |"
    )
    emit("|---" * 6 + "|")
    for name, r in runs.items():
        cells = []
        for key, value in (
            ("source", "items"),
            ("source", "users"),
            ("source", "content"),
            ("norm", "projection"),
            ("norm", "warm"),
        ):
            g = max((x for x in r["grid"] if x[key] == value), key=lambda x: x["objective"])
            cells.append(
                f"{g['objective']:.3f} (K {g['k']}, a {g['alpha']}"
                + (f", {g['source']}" if key == "norm" else f", {g['norm']}")
                + f"; {pct(g['cold_only'])}, {pct(g['cold_all'])})"
            )
        emit(f"| {name} | " + " | ".join(cells) + " |")
    for name, r in runs.items():
        c = r["chosen"]
        src = c["edges_source"] if c else max(r["grid"], key=lambda x: x["objective"])["source"]
        emit("")
        emit(f"{name}: validation objective over K x alpha, source {src}, norm projection:")
        emit("")
        alphas = sorted({g["alpha"] for g in r["grid"]})
        emit("| K | " + " | ".join(f"a {a}" for a in alphas) + " |")
        emit("|---" * (len(alphas) + 1) + "|")
        for k in sorted({g["k"] for g in r["grid"]}):
            row = {
                g["alpha"]: g["objective"]
                for g in r["grid"]
                if g["k"] == k and g["source"] == src and g["norm"] == "projection"
            }
            emit(f"| {k} | " + " | ".join(f"{row[a]:.3f}" for a in alphas) + " |")

    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
