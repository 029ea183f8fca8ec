"""Render the content floor's tables from the JSON of `python -m training.evaluation.content_floor`
(commands.sh runs it): test Recall@20 without and with the floor, the weight chosen on
validation, the ratio to the content-only baseline; then the items=cold variant.

usage: table.py OUT_DIR DATASET [DATASET ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def arrow(a: float, b: float) -> str:
    return f"{pct(a)} -> {pct(b)} ({b / a:.3f}x)" if a else f"{pct(a)} -> {pct(b)}"


def variant(d: dict[str, Any], name: str) -> tuple[str, dict[str, float], float]:
    """(chosen weight, test tracks with it, warm among all items with it)."""
    e = d[name]
    if "test" not in e:  # validation kept no floor: served without it
        return "off", d["without"]["test"], d["without"]["test_warm_all"]
    return f"{e['weight']:.3g} (lambda {e['lambda']:.3g})", e["test"], e["test_warm_all"]


HEAD = (
    "| Dataset (content) | w chosen | cold_all | cold_only | warm "
    "| over content: cold_all, cold_only |\n|---|---|---|---|---|---|"
)
COLD_HEAD = (
    "| Dataset | items=cold: w chosen | cold_all | warm among all items "
    "| best objective's lambda on validation |\n|---|---|---|---|---|"
)


def main() -> None:
    out, names = Path(sys.argv[1]), sys.argv[2:]
    rows, cold_rows = [HEAD], [COLD_HEAD]
    for name in names:
        d = json.loads((out / f"{name}.json").read_text())
        base, content = d["without"]["test"], d["content_baseline_test"]
        w, test, _ = variant(d, "all")
        over = ", ".join(
            f"{base[t] / content[t]:.2f}x -> {test[t] / content[t]:.2f}x"
            for t in ("cold_all", "cold_only")
        )
        cells = [arrow(base[t], test[t]) for t in ("cold_all", "cold_only", "warm")]
        rows.append(f"| {name} ({'+'.join(d['source'])}) | {w} | {' | '.join(cells)} | {over} |")
        cw, ctest, cwarm = variant(d, "cold")
        best = max(d["cold"]["grid"], key=lambda g: g["objective"])
        cold_rows.append(
            f"| {name} | {cw} | {arrow(base['cold_all'], ctest['cold_all'])} | "
            f"{pct(d['without']['test_warm_all'])} -> {pct(cwarm)} | "
            f"{best['lambda']:.3g}: valid cold_all {pct(best['cold_all'])}, warm among all "
            f"{pct(best['warm'])} (without {pct(d['cold']['without_valid']['warm'])}) |"
        )
    sys.stdout.write("\n".join(rows) + "\n\n" + "\n".join(cold_rows) + "\n")


if __name__ == "__main__":
    main()
