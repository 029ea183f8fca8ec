"""Plain input: a shop's own interactions and item table as CSV or Parquet files.

A folder with
- `interactions.csv` or `.parquet`: `user_id`, `item_id`, `timestamp` (integer epoch seconds or
  ISO 8601; a zone-less ISO time is UTC), optional `event` (view, click, buy, ...) and `weight`
  (a positive number, empty = 1);
- `items.csv` or `.parquet`: `item_id` and text columns. The item's text is its non-empty text
  cells joined by a space, from every string column but the id whose values are not all numbers,
  or from the columns `text_columns` names (in that order); it is encoded with MiniLM;
- optional `items.<modality>.npy`: float [rows of the items file, d], row i = the item of the
  items file's i-th data row (image, audio or any precomputed vectors).
- optional `dataset.json`: `{"name": ...}`, the dataset's name (default: the folder's).

Every item of the items file is in the catalogue, with or without interactions. Rows that break
the schema (an empty id, an item not in the items file, a bad timestamp or weight, a CSV row with
the wrong number of fields, an item listed twice) raise `InvalidRows` naming the file, the lines
and the count; `skip_invalid` drops them instead and logs it. Repeated interactions (same user,
item, timestamp and event) count once. `event` and `weight` are read, validated and carried on
the Dataset (`events`, `weights`); training treats every interaction as one implicit positive.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.idmap import IdMap
from training.data.dataset import Dataset
from training.data.formats import DatasetError, plain_table
from training.data.plain_rows import (
    BAD_TIME,
    BAD_WEIGHT,
    BAD_WIDTH,
    EMPTY_ITEM,
    EMPTY_USER,
    REPEATED_ITEM,
    InvalidRows,
    Kind,
    Problems,
    as_id,
    is_numeric,
    parse_time,
    parse_weight,
    shown,
    unknown_item,
)
from training.data.tables import Table, read_table
from training.data.text import encode_texts_cached

log = logging.getLogger(__name__)

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp")
DATASET_META = "dataset.json"  # optional: {"name": ...}, and what `coldrec export` records
ITEM_ID = "item_id"
MODALITY_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Interactions:
    """The valid rows of the interactions table, parsed; `kept` are their row indices."""

    users: list[str]
    items: list[int]
    stamps: list[int | float]
    events: list[str] | None
    weights: list[float] | None
    kept: list[int]


def load_plain(
    d: Path,
    *,
    cache_dir: Path | None = None,
    text_columns: Sequence[str] | None = None,
    skip_invalid: bool = False,
) -> Dataset:
    """Read a plain folder (see the module doc); `cache_dir` holds encoded item text."""
    checked = read_plain_rows(d, skip_invalid=skip_invalid)
    notes: dict[str, object] = {}
    if checked.problems:
        for p in checked.problems:
            log.warning("--skip-invalid dropped %d rows of %s", p.count, p.message())
        notes["skipped_rows"] = {p.table.name: p.summary() for p in checked.problems}
    if checked.duplicates:
        notes["duplicate_rows"] = _duplicate_note(checked.inter, checked.duplicates)
    if not checked.rows.kept:
        raise DatasetError(f"{checked.inter.name}: no valid interactions")
    modalities = _npy_modalities(d, checked.items, checked.kept_items)
    texts = _item_texts(checked.items, checked.kept_items, text_columns)
    if texts is not None:
        modalities["text"] = encode_texts_cached(texts, cache_dir)
    return _dataset(plain_name(d), checked.item_ids, checked.rows, modalities, notes)


@dataclass
class CheckedRows:
    """A plain folder's tables with their valid rows: the kept item rows (`kept_items`, ids
    `item_ids`) and interactions (`rows`, repeats dropped: `duplicates`), and the problems
    `skip_invalid` let through."""

    items: Table
    inter: Table
    kept_items: list[int]
    item_ids: IdMap
    rows: Interactions
    problems: list[Problems]
    duplicates: list[int]


def read_plain_rows(d: Path, *, skip_invalid: bool = False) -> CheckedRows:
    """Read and check `d`'s two tables: `InvalidRows` on a bad row unless `skip_invalid`."""
    inter_path, items_path = plain_table(d, "interactions"), plain_table(d, "items")
    if inter_path is None:
        raise DatasetError(f"no interactions.csv or interactions.parquet in {d}")
    if items_path is None:
        raise DatasetError(
            f"{d}: {inter_path.name} needs an items.csv or items.parquet beside it "
            "(item_id plus text columns)"
        )
    items, inter = read_table(items_path), read_table(inter_path)
    _require(items, (ITEM_ID,))
    _require(inter, INTERACTION_COLUMNS)
    item_problems, kept_items = _check_items(items)
    item_ids = IdMap(as_id(items.cells[ITEM_ID][k]) for k in kept_items)
    inter_problems, rows = _check_interactions(inter, item_ids, items.name)
    problems = [p for p in (item_problems, inter_problems) if p]
    if problems and not skip_invalid:
        messages = "; ".join(p.message() for p in problems)
        raise InvalidRows(f"{messages}; pass --skip-invalid to drop them")
    duplicates = _drop_duplicates(rows)
    return CheckedRows(items, inter, kept_items, item_ids, rows, problems, duplicates)


def plain_name(d: Path) -> str:
    """The dataset's name: `name` in `d/dataset.json` when there is one (`coldrec export` writes
    it, so a retrained model keeps the dataset the service's live state is recorded for), else
    the folder's name."""
    meta = d / DATASET_META
    if not meta.is_file():
        return d.name
    try:
        name = json.loads(meta.read_text(encoding="utf-8")).get("name")
    except (ValueError, AttributeError) as exc:
        raise DatasetError(f"{meta}: not a JSON object with a 'name' ({exc})") from exc
    if not isinstance(name, str) or not name:
        raise DatasetError(f"{meta}: 'name' must be a non-empty string")
    return name


def _require(table: Table, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{table.name}: missing column {', '.join(missing)}; it has {', '.join(table.columns)}"
            f" and needs {', '.join(columns)}"
        )


def _check_items(items: Table) -> tuple[Problems, list[int]]:
    """Rows with an empty or repeated item_id fail; the others' indices, in file order."""
    problems, kept, seen = Problems(items), [], set()
    for k, value in enumerate(items.cells[ITEM_ID]):
        item = as_id(value)
        kind = BAD_WIDTH if k in items.bad_width else EMPTY_ITEM if not item else None
        if kind is None and item in seen:
            kind = REPEATED_ITEM
        if kind is not None:
            problems.add(kind, k, item if kind is REPEATED_ITEM else None)
            continue
        seen.add(item)
        kept.append(k)
    return problems, kept


def _check_interactions(
    inter: Table, item_ids: IdMap, items_file: str
) -> tuple[Problems, Interactions]:
    problems = Problems(inter)
    has_event, has_weight = "event" in inter.columns, "weight" in inter.columns
    rows = Interactions([], [], [], [] if has_event else None, [] if has_weight else None, [])
    unknown = unknown_item(items_file)
    cells = inter.cells
    for k in range(len(inter)):
        parsed = _parse_row(inter, k, item_ids, unknown)
        if isinstance(parsed, Failure):
            problems.add(parsed.kind, k, parsed.example)
            continue
        user, item, stamp, weight = parsed
        rows.users.append(user)
        rows.items.append(item)
        rows.stamps.append(stamp)
        rows.kept.append(k)
        if rows.events is not None:
            rows.events.append(as_id(cells["event"][k]))
        if rows.weights is not None:
            rows.weights.append(weight)
    return problems, rows


@dataclass(frozen=True)
class Failure:
    kind: Kind
    example: object = None


def _parse_row(
    inter: Table, k: int, item_ids: IdMap, unknown: Kind
) -> Failure | tuple[str, int, int | float, float]:
    """(user, item index, timestamp, weight) of row k, or why it fails (its first problem)."""
    if k in inter.bad_width:
        return Failure(BAD_WIDTH)
    user, item = as_id(inter.cells["user_id"][k]), as_id(inter.cells["item_id"][k])
    if not user:
        return Failure(EMPTY_USER)
    if not item:
        return Failure(EMPTY_ITEM)
    index = item_ids.get(item)
    if index is None:
        return Failure(unknown, item)
    stamp = parse_time(inter.cells["timestamp"][k])
    if stamp is None:
        return Failure(BAD_TIME, inter.cells["timestamp"][k] or "")
    weight = parse_weight(inter.cells["weight"][k]) if "weight" in inter.cells else 1.0
    if weight is None:
        return Failure(BAD_WEIGHT, inter.cells["weight"][k])
    return user, index, stamp, weight


def _drop_duplicates(rows: Interactions) -> list[int]:
    """Keep the first of rows with the same user, item, timestamp and event; the others' row
    indices."""
    seen: set[tuple[str, int, int | float, str]] = set()
    keep: list[int] = []
    duplicates: list[int] = []
    for j in range(len(rows.kept)):
        event = rows.events[j] if rows.events is not None else ""
        key = (rows.users[j], rows.items[j], rows.stamps[j], event)
        if key in seen:
            duplicates.append(rows.kept[j])
        else:
            seen.add(key)
            keep.append(j)
    if duplicates:
        for name in ("users", "items", "stamps", "events", "weights", "kept"):
            values = getattr(rows, name)
            if values is not None:
                setattr(rows, name, [values[j] for j in keep])
    return duplicates


def _duplicate_note(inter: Table, duplicates: list[int]) -> dict[str, object]:
    n = len(duplicates)
    where = f"{inter.unit}{'s' if n > 1 else ''} {shown(inter, duplicates)}"
    log.warning(
        "%s: %d %s the same user_id, item_id, timestamp and event as an earlier row, "
        "counted once (%s)",
        inter.name,
        n,
        "row repeats" if n == 1 else "rows repeat",
        where,
    )
    first = sorted(inter.where[k] for k in duplicates)[:5]
    return {inter.name: {"count": n, f"{inter.unit}s": first}}


def _item_texts(
    items: Table, kept: list[int], text_columns: Sequence[str] | None
) -> list[str] | None:
    """Each kept item's text, or None when the items file has no text column."""
    if text_columns:
        missing = [c for c in text_columns if c not in items.columns]
        if missing:
            raise DatasetError(
                f"{items.name}: no column {', '.join(missing)} (--text-columns); "
                f"it has {', '.join(items.columns)}"
            )
        columns = list(text_columns)
    else:
        columns = [
            c
            for c in items.columns
            if c != ITEM_ID and c in items.string_columns and not is_numeric(items.cells[c])
        ]
    if not columns:
        log.warning("%s has no text column: the items get no text modality", items.name)
        return None
    texts = [
        " ".join(as_id(items.cells[c][k]) for c in columns if items.cells[c][k] is not None)
        for k in kept
    ]
    empty = sum(1 for t in texts if not t)
    if empty:
        log.warning("%s: %d of %d items have no text", items.name, empty, len(texts))
    log.info("%s: item text from %s", items.name, ", ".join(columns))
    return texts


def _npy_modalities(d: Path, items: Table, kept: list[int]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for path in sorted(d.glob("items.*.npy")):
        modality = path.name[len("items.") : -len(".npy")]
        if modality == "text":
            raise DatasetError(
                f"{path.name}: the text modality is MiniLM's encoding of {items.name}'s text "
                "(the service encodes new items' text the same way); name precomputed vectors "
                "items.<modality>.npy with another modality, e.g. items.text_vectors.npy"
            )
        if not MODALITY_NAME.fullmatch(modality):
            raise DatasetError(f"{path.name}: a modality name is letters, digits, _ or -")
        out[modality] = _npy_rows(path, items, kept)
    return out


def _npy_rows(path: Path, items: Table, kept: list[int]) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path.name}: {exc}") from exc
    if arr.ndim != 2 or arr.shape[0] != len(items):
        raise DatasetError(
            f"{path.name}: shape {tuple(arr.shape)}, expected ({len(items)}, d): one row per "
            f"data row of {items.name}, in its order"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise DatasetError(f"{path.name}: dtype {arr.dtype}, expected float32")
    feats = np.ascontiguousarray(arr[kept], dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(feats).all(axis=1))
    if len(bad):
        rows = ", ".join(str(kept[j]) for j in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise DatasetError(
            f"{path.name}: {len(bad)} rows hold NaN or infinity (rows {rows}, counting from 0)"
        )
    return feats


def _dataset(
    name: str,
    item_ids: IdMap,
    rows: Interactions,
    modalities: dict[str, np.ndarray],
    notes: dict[str, object],
) -> Dataset:
    user_ids = IdMap()
    users = np.fromiter((user_ids.add(u) for u in rows.users), np.int64, len(rows.users))
    integral = all(isinstance(s, int) for s in rows.stamps)
    return Dataset(
        name=name,
        user_ids=user_ids,
        item_ids=item_ids,
        users=users,
        items=np.asarray(rows.items, dtype=np.int64),
        order=np.asarray(rows.stamps, dtype=np.int64 if integral else np.float64),
        modalities=modalities,
        events=None if rows.events is None else np.asarray(rows.events, dtype=np.str_),
        weights=None if rows.weights is None else np.asarray(rows.weights, dtype=np.float32),
        notes=notes,
    )
