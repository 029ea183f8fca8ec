"""Write a P5 dataset folder (e.g. Amazon Beauty) out as plain input: interactions.csv + items.csv.

    python -m training.data.plain_export ../shared/data/amazon_beauty OUT_DIR

`interactions.csv` has `user_id,item_id,timestamp` with the position in the user's history as
the timestamp (P5 ships the order, not the times); `items.csv` has `item_id,text` for every item
the P5 loader knows, in its order, with its text. So `coldrec data stats OUT_DIR` counts what the
P5 folder counts, and the item texts are the P5 loader's: their MiniLM encoding comes from the
same cache entry.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from training.data.formats import P5_ITEM_TEXT, P5_SEQUENCES, DatasetError, is_p5


def p5_to_plain(src: Path, out: Path) -> tuple[Path, Path]:
    """Write `out/interactions.csv` and `out/items.csv` from the P5 folder `src`."""
    if not is_p5(src):
        raise DatasetError(f"{src} is not a P5 folder ({P5_SEQUENCES} + {P5_ITEM_TEXT})")
    out.mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {}
    for line in _lines(src / P5_ITEM_TEXT):
        item, _, text = line.strip().partition(" ")
        if item:
            texts[item] = text.strip()
    seen: dict[str, int] = {}  # a repeated user line continues its history
    items: set[str] = set(texts)
    inter_path, items_path = out / "interactions.csv", out / "items.csv"
    with inter_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user_id", "item_id", "timestamp"])
        for lineno, line in enumerate(_lines(src / P5_SEQUENCES), 1):
            user, *seq = line.split()
            if not seq:
                raise DatasetError(f"{P5_SEQUENCES}:{lineno}: expected `user item ...`")
            start = seen.get(user, 0)
            writer.writerows([user, item, start + k] for k, item in enumerate(seq))
            seen[user] = start + len(seq)
            items.update(seq)
    with items_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", "text"])
        writer.writerows([item, texts.get(item, "")] for item in sorted(items))
    return inter_path, items_path


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="P5 dataset folder")
    parser.add_argument("out", help="folder to write interactions.csv and items.csv into")
    args = parser.parse_args(argv)
    for path in p5_to_plain(Path(args.src), Path(args.out)):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
