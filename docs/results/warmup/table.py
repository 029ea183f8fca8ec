"""Render docs/results/warmup/results.md from the replays' JSON (commands.sh runs it).

usage: table.py OUT_DIR CHOSEN_K0 K0 [K0 ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(out: Path, name: str, label: str) -> str:
    s = json.loads((out / f"{name}.json").read_text())
    f = s["cold_first_n"]
    by = f["by_rank"]
    first = by.get("1", {}).get("hit_rate", 0.0)
    later_n = sum(v["interactions"] for r, v in by.items() if int(r) > 1)
    later_h = sum(v["hits"] for r, v in by.items() if int(r) > 1)
    later = later_h / later_n if later_n else 0.0
    return (
        f"| {label} | {s['users']} | {f['interactions']} | {f['hits']} | {f['hit_rate']:.4f} "
        f"| {first:.4f} | {later:.4f} | {s['seconds']:.0f} |"
    )


def main() -> None:
    out, chosen, k0s = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    n = json.loads((out / "test-off.json").read_text())["cold_first_n"]["n"]
    head = (
        f"| replay | users | cold interactions of rank <= {n} | hits | hit rate | rank 1 "
        f"| ranks 2-{n} | seconds |\n|---|---|---|---|---|---|---|---|"
    )
    lines = ["## Validation (chooses k0)", "", head, row(out, "valid-off", "off")]
    lines += [row(out, f"valid-k0-{k}", f"k0 = {k}") for k in k0s]
    lines += ["", f"k0 chosen on validation: {chosen}", "", "## Test", "", head]
    lines += [row(out, "test-off", "off"), row(out, "test-warmup", f"k0 = {chosen}")]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
