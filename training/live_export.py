"""`coldrec export --bundle RUN_DIR --out DIR`: the run's data plus what the service learned, as
plain input (README "Your own data"), to retrain on (issue 14 items 1-2).

DIR gets
- `items.csv`: `item_id[,text]`: the run's own items (their text, from its data), then every item
  registered online that its data does not hold, with the text it was registered by (empty
  for one registered by features). Retired items are left out.
- `items.<modality>.npy`: the run's data's vectors for its items, then the registered items'
  features (a zero row where an item has no vector of that modality, e.g. one registered by
  text). An item registered by a `text` feature vector alone has no text to write: it is left
  out (counted under `left_out`), since `text` is the items file's text encoded by MiniLM.
- `interactions.csv`: `user_id,item_id,timestamp,event[,weight]`: the run's data's rows (their
  time, event, weight as read), then every interaction posted online, oldest first, with its
  ISO 8601 time (UTC) and event. Those on items left out (retired, or never written) are left
  out too: the plain reader refuses a row naming an item the items file lacks.
- `dataset.json`: `name` (the run's dataset, which the live state is recorded for, so the
  retrained bundle keeps the state) and `export` (the run, the state, the part of the
  interaction log written, counts).

Online interactions come from the interaction log (`service.keys.Keys.log`, docs/SERVICE.md).
When the run's data is itself an export of this state, its `log_until` says which logged
interactions it already holds: only later ones are read, and (unless `keep_log`) the log is
trimmed below that point, so Redis keeps only what no training folder holds yet. Memory stays
bounded: the log and the registered items are read in chunks and written as they come.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from bundle.format import BundleError
from bundle.reader import parse_manifest, resolve_bundle_dir
from service.live_state import NO_ID, LiveState
from service.settings import Settings
from service.state import StateRefused
from service.store import Interaction, ItemRecord
from training.data.run_source import PlainSource, run_source

log = logging.getLogger(__name__)
TEXT = "text"


def export(args: argparse.Namespace) -> int:
    """The `coldrec export` handler: prints the summary as JSON (a refusal: one line, exit 2)."""
    try:
        summary = export_state(
            Path(args.bundle),
            Path(args.out),
            Settings(),
            chunk=args.chunk,
            keep_log=args.keep_log,
            progress=not args.quiet,
        )
    except (StateRefused, BundleError) as exc:
        raise ValueError(str(exc)) from exc
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


def export_state(
    run: Path,
    out: Path,
    settings: Settings,
    *,
    chunk: int = 10_000,
    keep_log: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Write `out` (see the module doc) from the run `run` and the live state `settings` name."""
    bundle_dir = resolve_bundle_dir(run)
    run_dir = bundle_dir.parent
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: the run's config names its data; pass RUN_DIR")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty: export into a new folder")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    manifest = parse_manifest((bundle_dir / "manifest.json").read_bytes())
    source = run_source(str(config["data"]), config.get("data_options"))
    with LiveState.open(settings, bundle_dir) as state:
        record = state.check(manifest.dataset) if state is not None else None
        marker = _marker(record)
        held = source.export.get("log_until", NO_ID)
        after = held if marker is not None and source.export.get("state") == marker else NO_ID
        until = state.log_end() if state is not None else NO_ID
        out.mkdir(parents=True, exist_ok=True)
        writer = _Writer(out, source, state.retired_ids() if state is not None else set())
        if state is not None:
            writer.add_registered(state.iter_items(_new_ids(state, source), chunk=500))
        writer.finish_items()
        writer.write_data_interactions()
        if state is not None:
            online: Iterator[Interaction] = state.iter_log(after, until, chunk)
            if after == NO_ID:  # a state written before the log: its older stream events too
                online = _chain(state.iter_unlogged(chunk), online)
            total = state.log_length() if progress else None
            bar = tqdm(online, total=total, desc="export interactions", disable=not progress)
            writer.write_online(bar)
        trimmed = 0
        if state is not None and after != NO_ID and not keep_log:
            trimmed = state.trim_log(after)  # the run's data (an earlier export) holds these
    summary = writer.summary()
    summary["log"] = {"after": after, "until": until, "trimmed": trimmed}
    meta = {
        "name": manifest.dataset,
        "export": {
            "run": str(run_dir.resolve()),
            "bundle_digest": _digest(bundle_dir),
            "data": config["data"],
            "state": marker,
            "log_after": after,
            "log_until": until,
            "exported_at": datetime.now(UTC).isoformat(),
            **summary,
        },
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {"out": str(out), "dataset": manifest.dataset, **summary}


class _Writer:
    """Writes the export's files as rows come; keeps only the exported item ids in memory."""

    def __init__(self, out: Path, source: PlainSource, retired: set[str]) -> None:
        self.out = out
        self.source = source
        self.retired = retired
        self.dims = {m: int(v.shape[1]) for m, v in source.vectors.items()}
        self.keep = np.asarray([i not in retired for i in source.item_ids], dtype=bool)
        self.exported: set[str] = {i for i, k in zip(source.item_ids, self.keep, strict=True) if k}
        self.counts: dict[str, Any] = {
            "items": {"data": int(self.keep.sum()), "registered": 0},
            "interactions": {"data": 0, "online": 0},
            "left_out": {"retired_items": len(retired & set(source.item_ids))},
        }
        self._tmp = tempfile.TemporaryDirectory(prefix="coldrec-export-", dir=out)
        self._raw = {m: (Path(self._tmp.name) / m).open("wb") for m in self.dims}
        self._items_fh = (out / "items.csv").open("w", encoding="utf-8", newline="")
        self._items = csv.writer(self._items_fh)
        self._items.writerow(["item_id", TEXT] if source.texts is not None else ["item_id"])
        for j in np.flatnonzero(self.keep).tolist():
            text = [source.texts[j]] if source.texts is not None else []
            self._items.writerow([source.item_ids[j], *text])
        for m, fh in self._raw.items():
            fh.write(np.ascontiguousarray(source.vectors[m][self.keep], dtype="<f4").tobytes())
        self._n_rows = int(self.keep.sum())

    def add_registered(self, records: Iterator[ItemRecord]) -> None:
        """Registered items the data does not hold (`records`), each an items row."""
        left = self.counts["left_out"]
        for rec in records:
            if rec.text is None and TEXT in rec.features:
                left["text_vector_items"] = left.get("text_vector_items", 0) + 1
                continue
            if rec.text is None and self.source.texts is None and not self.dims:
                continue  # nothing the plain format could hold for it
            bad = [
                m for m in rec.features if m != TEXT and len(rec.features[m]) != self.dims.get(m)
            ]
            if bad:
                left["other_modality_items"] = left.get("other_modality_items", 0) + 1
                continue
            text = [rec.text or ""] if self.source.texts is not None else []
            self._items.writerow([rec.item_id, *text])
            for m, fh in self._raw.items():
                vec = rec.features.get(m)
                row = np.zeros(self.dims[m], "<f4") if vec is None else np.asarray(vec, "<f4")
                fh.write(row.tobytes())
            self.exported.add(rec.item_id)
            self._n_rows += 1
            self.counts["items"]["registered"] += 1

    def finish_items(self) -> None:
        """Close items.csv and assemble each `items.<modality>.npy` from its raw rows."""
        self._items_fh.close()
        for m, fh in self._raw.items():
            fh.close()
            shape = (self._n_rows, self.dims[m])
            arr = np.lib.format.open_memmap(
                self.out / f"items.{m}.npy", mode="w+", dtype="<f4", shape=shape
            )
            raw = np.memmap(Path(self._tmp.name) / m, dtype="<f4", mode="r", shape=shape)
            step = max(1, (64 << 20) // (4 * max(1, self.dims[m])))  # 64 MiB a copy
            for start in range(0, shape[0], step):
                arr[start : start + step] = raw[start : start + step]
            arr.flush()
            del arr, raw
        self._tmp.cleanup()
        self._inter_fh = (self.out / "interactions.csv").open("w", encoding="utf-8", newline="")
        self._inter = csv.writer(self._inter_fh)
        weight = ["weight"] if self.source.weights is not None else []
        self._inter.writerow(["user_id", "item_id", "timestamp", "event", *weight])

    def write_data_interactions(self) -> None:
        src = self.source
        written = 0
        for k, (user, j, stamp) in enumerate(zip(src.users, src.items, src.stamps, strict=True)):
            if not self.keep[j]:
                continue
            event = src.events[k] if src.events is not None else ""
            weight = [repr(src.weights[k])] if src.weights is not None else []
            self._inter.writerow([user, src.item_ids[j], stamp, event, *weight])
            written += 1
        self.counts["interactions"]["data"] = written
        self.counts["left_out"]["data_interactions_on_retired"] = len(src.users) - written

    def write_online(self, events: Iterator[Interaction]) -> None:
        weight = [""] if self.source.weights is not None else []  # empty: weight 1
        written = dropped = 0
        for ev in events:
            if ev.item_id not in self.exported:
                dropped += 1
                continue
            when = datetime.fromtimestamp(ev.ts, UTC).isoformat()
            self._inter.writerow([ev.user, ev.item_id, when, ev.event, *weight])
            written += 1
        self.counts["interactions"]["online"] = written
        self.counts["left_out"]["online_interactions_on_items_left_out"] = dropped

    def summary(self) -> dict[str, Any]:
        self._inter_fh.close()
        return self.counts


def _new_ids(state: LiveState, source: PlainSource) -> list[str]:
    """Registered ids the run's data does not hold (its rows win for the ones it does)."""
    known = set(source.item_ids)
    return [i for i in state.registered_ids() if i not in known]


def _chain(*parts: Iterator[Interaction]) -> Iterator[Interaction]:
    for part in parts:
        yield from part


def _marker(record: dict[str, Any] | None) -> str | None:
    """Names one state (its catalogue record), so a later export knows its own earlier ones."""
    if record is None:
        return None
    return f"{record.get('dataset')}@{record.get('claimed_at')!r}"


def _digest(bundle_dir: Path) -> str:
    return hashlib.sha256((bundle_dir / "manifest.json").read_bytes()).hexdigest()
