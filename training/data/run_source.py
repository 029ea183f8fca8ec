"""A run's own training data as plain rows with raw item text, for `coldrec export`.

The run names its data in `config.json` (`data`, `data_options`); `run_source` reads it back as
`PlainSource`: every item with its text (as the plain reader joins it) and its
`items.<modality>.npy` vectors, every interaction with its time, event and weight. Sources whose
raw item text exists: plain folders (read with the run's reader options, so the same rows are
dropped), P5 folders and `synthetic:words` (its generated texts), these two read back from the
plain files their exporters write (`training.data.plain_export.p5_to_plain`, `words_to_plain`).
Other formats ship only encoded features, which the plain format cannot hold as text, so they
are refused.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.data.formats import DatasetError, detect_format
from training.data.plain import (
    DATASET_META,
    _item_texts,
    _npy_modalities,
    plain_name,
    read_plain_rows,
)
from training.data.resolve import SYNTHETIC, _parse_kwargs


@dataclass
class PlainSource:
    """Plain rows: items (ids, text or None, vectors [n_items, d] by modality) and interactions
    (`items[k]` indexes `item_ids`). `export` is the source folder's `dataset.json` `export`
    section when the data is itself an export (what of the live state it already holds)."""

    name: str
    item_ids: list[str]
    texts: list[str] | None
    vectors: dict[str, np.ndarray]
    users: list[str]
    items: np.ndarray  # [n] int64
    stamps: list[int | float]
    events: list[str] | None = None
    weights: list[float] | None = None
    export: dict[str, Any] = field(default_factory=dict)


def run_source(spec: str, options: dict[str, Any] | None = None) -> PlainSource:
    """The data `spec` (a run's `config.json` `data`) read with `options` (its `data_options`)."""
    options = options or {}
    if spec == SYNTHETIC or spec.startswith(SYNTHETIC + ":"):
        kind, _, rest = spec.partition(":")[2].partition(",")
        if kind != "words":
            raise DatasetError(
                f"cannot export the run's data {spec!r}: generated latent features have no item "
                "text for the plain format (exportable: plain folders, P5, synthetic:words)"
            )
        return _words_source(rest)
    d = Path(spec)
    if not d.is_dir():
        raise DatasetError(
            f"the run's data {spec!r} (its config.json `data`) is not a folder here; run "
            "`coldrec export` from where the run was trained"
        )
    fmt = detect_format(d)
    if fmt == "plain":
        return read_plain_source(
            d, text_columns=options.get("text_columns"), skip_invalid=options.get("skip_invalid")
        )
    if fmt == "p5":
        from training.data.plain_export import p5_to_plain

        return _via_plain_files(lambda out: p5_to_plain(d, out), d.name)
    raise DatasetError(
        f"cannot export the run's data {spec}: {fmt} ships encoded item features, not the raw "
        "item text the plain format keeps (exportable: plain folders, P5, synthetic:words)"
    )


def read_plain_source(
    d: Path, *, text_columns: Sequence[str] | None = None, skip_invalid: bool | None = False
) -> PlainSource:
    """A plain folder's valid rows, as `training.data.plain.load_plain` reads them (the same
    checks, `skip_invalid`, duplicates dropped), with the raw text instead of its encoding."""
    checked = read_plain_rows(d, skip_invalid=bool(skip_invalid))
    rows, items, kept = checked.rows, checked.items, checked.kept_items
    meta: dict[str, Any] = {}
    if (d / DATASET_META).is_file():
        meta = json.loads((d / DATASET_META).read_text(encoding="utf-8"))
    return PlainSource(
        name=plain_name(d),
        item_ids=list(checked.item_ids.ids),
        texts=_item_texts(items, kept, text_columns),
        vectors=_npy_modalities(d, items, kept),
        users=rows.users,
        items=np.asarray(rows.items, dtype=np.int64),
        stamps=rows.stamps,
        events=rows.events,
        weights=rows.weights,
        export=dict(meta.get("export") or {}),
    )


def _words_source(args: str) -> PlainSource:
    """`synthetic:words` through the one writer of its plain files (`words_to_plain`), so the
    export holds what `python -m training.data.plain_export` writes: the generator's texts and
    interactions in its order, with their drawn events and times."""
    from training.data.plain_export import words_to_plain
    from training.data.synthetic_words import words_name

    kwargs = _parse_kwargs(args)
    return _via_plain_files(lambda out: words_to_plain(out, **kwargs), words_name(kwargs))


def _via_plain_files(write: Callable[[Path], object], name: str) -> PlainSource:
    """A source written out as plain files by `write(folder)`, read back, named `name`."""
    with tempfile.TemporaryDirectory(prefix="coldrec-source-") as tmp:
        write(Path(tmp))
        source = read_plain_source(Path(tmp))
    source.name = name
    return source
