"""Write any `--data` source out as plain input (interactions.csv + items.csv), e.g. to try the
plain format on a known dataset, or to start a shop of one's own from the demo's.

    python -m training.data.plain_export DATA OUT_DIR

- a P5 folder (e.g. ../shared/data/amazon_beauty): `interactions.csv` has
  `user_id,item_id,timestamp` with the position in the user's history as the timestamp (P5
  ships the order, not the times); `items.csv` has `item_id,text` for every item the P5 loader
  knows, in its order, with its text. So `coldrec data stats OUT_DIR` counts what the P5 folder
  counts, and the item texts are the P5 loader's: their MiniLM encoding comes from the same
  cache entry.
- `synthetic:words[,key=value,...]` (the demo's shop): `items.csv` has `item_id,title,
  description` (the generator's text split after its first full stop, which the title keeps:
  the reader's space-join gives back the exact text, so its MiniLM encoding is the generated
  dataset's), `interactions.csv` has `user_id,item_id,timestamp,event` in the generator's order
  with ISO 8601 times in each user's order and an event (view, click or buy, drawn; training
  treats every one as a positive). `coldrec export` of a `synthetic:words` run reads its data
  back through these files (`training.data.run_source`).
- any other source (`synthetic[:...]`, RecBole, DiffMM, MMRec folders): its vectors, since it
  has no raw text: `items.csv` lists the item ids, each modality goes to
  `items.<modality>.npy`, except `text`, written as `items.text_vec.npy` (`items.text.npy` is
  the name MiniLM's encoding of the items file takes, so the reader refuses it); timestamps
  are the dataset's order, ranked.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from training.data.dataset import Dataset
from training.data.formats import P5_ITEM_TEXT, P5_SEQUENCES, DatasetError, is_p5
from training.data.readers import p5_item_texts
from training.data.resolve import _parse_kwargs, resolve_data

EVENTS = ("view", "click", "buy")
EVENT_SHARES = (0.6, 0.25, 0.15)
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)  # the first generated interaction's time
RENAMED = {"text": "text_vec"}  # modality -> the name of its items.<name>.npy


def export_plain(data: str, out: Path) -> list[Path]:
    """Write `data` (a `--data` spec) into the folder `out` as plain input; the files written."""
    if is_p5(Path(data)):
        return list(p5_to_plain(Path(data), out))
    spec, _, rest = data.partition(",")
    if spec == "synthetic:words":
        return list(words_to_plain(out, **_parse_kwargs(rest)))
    return vectors_to_plain(resolve_data(data), out)


def p5_to_plain(src: Path, out: Path) -> tuple[Path, Path]:
    """Write `out/interactions.csv` and `out/items.csv` from the P5 folder `src`."""
    if not is_p5(src):
        raise DatasetError(f"{src} is not a P5 folder ({P5_SEQUENCES} + {P5_ITEM_TEXT})")
    out.mkdir(parents=True, exist_ok=True)
    texts = p5_item_texts(src)
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


def words_to_plain(out: Path, **kwargs: int | float) -> tuple[Path, Path]:
    """`synthetic:words` (with `kwargs`) as a shop's files: item titles and descriptions (read
    back joined, the generator's exact texts), the generator's interactions in its order with
    ISO timestamps in each user's order and an event each. Ids are the generator's."""
    from training.data.synthetic_words import words_data

    with tempfile.TemporaryDirectory() as cache:  # the texts only: no MiniLM, no cache entry
        data = words_data(**kwargs, encoder=_NoEncoder(), cache_dir=Path(cache))  # type: ignore[arg-type]
    ds = data.dataset
    out.mkdir(parents=True, exist_ok=True)
    items_path, inter_path = out / "items.csv", out / "interactions.csv"
    with items_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", "title", "description"])
        for item, text in zip(ds.item_ids.ids, data.texts, strict=True):
            title, dot, description = text.partition(". ")
            writer.writerow([item, title + dot.strip(), description])
    rng = np.random.default_rng([int(kwargs.get("seed", 0)), 2])
    events = rng.choice(len(EVENTS), size=ds.n_interactions, p=EVENT_SHARES)
    # user u's k-th interaction: k days and u minutes after START (each user in order)
    minutes = ds.order.astype(np.int64) * 24 * 60 + ds.users
    with inter_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user_id", "item_id", "timestamp", "event"])
        for u, i, m, e in zip(ds.users, ds.items, minutes, events, strict=True):
            at = (START + timedelta(minutes=int(m))).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerow([ds.user_ids.external(u), ds.item_ids.external(i), at, EVENTS[e]])
    return items_path, inter_path


def vectors_to_plain(ds: Dataset, out: Path) -> list[Path]:
    """A source without raw text: item ids, interactions timed by the dataset's order (ranked,
    so ties stay ties) and each modality's vectors as `items.<modality>.npy` (`RENAMED`)."""
    out.mkdir(parents=True, exist_ok=True)
    items_path, inter_path = out / "items.csv", out / "interactions.csv"
    with items_path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["item_id"], *([item] for item in ds.item_ids.ids)])
    _, ranks = np.unique(ds.order, return_inverse=True)
    with inter_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user_id", "item_id", "timestamp"])
        writer.writerows(
            [ds.user_ids.external(u), ds.item_ids.external(i), int(t)]
            for u, i, t in zip(ds.users, ds.items, ranks, strict=True)
        )
    written = [items_path, inter_path]
    for name, feats in sorted(ds.modalities.items()):
        written.append(out / f"items.{RENAMED.get(name, name)}.npy")
        np.save(written[-1], feats)
    return written


class _NoEncoder:
    """Stands in for MiniLM where only the generated texts are wanted."""

    name = "none"
    dim = 1

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 1), dtype=np.float32)


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.data.plain_export", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("data", help="a --data spec: a dataset folder, synthetic:words[,...], ...")
    parser.add_argument("out", help="folder to write interactions.csv and items.csv into")
    args = parser.parse_args(argv)
    try:
        written = export_plain(args.data, Path(args.out))
    except (DatasetError, ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    for path in written:
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
