"""Rebuild an engine from Redis: retirements, registered items (cached embeddings or a
re-projection, cached under the bundle's digest) and every user's online interactions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from service.store import ItemRecord

if TYPE_CHECKING:
    from service.engine import Engine


def replay_state(engine: Engine) -> None:
    """Apply what happened after training to `engine`'s index and seen sets.

    A registered item that the bundle holds and that was registered before the bundle was made
    (a retrained item: warm, or projected at export) keeps the bundle's embedding; one
    registered later wins over the bundle. The others are re-projected once per bundle: the
    projection is cached under the bundle's digest, so a restart or another replica reads it.
    """
    store, bundle = engine.store, engine.bundle
    for item_id in store.retired_ids():
        idx = engine.item_ids.get(item_id)
        if idx is not None:
            engine.catalogue.remove(idx)
    made = _timestamp(bundle.manifest.created_at)
    for records, cached in _chunks(store.iter_items(store.registered_ids(), bundle.digest)):
        mine = [
            i
            for i, r in enumerate(records)
            if not (r.registered_at <= made and r.item_id in bundle.item_ids)
        ]
        records, cached = [records[i] for i in mine], [cached[i] for i in mine]
        todo = [i for i, c in enumerate(cached) if c is None]
        embs = np.zeros((len(records), bundle.manifest.dim), dtype=np.float32)  # [n, dim]
        for i, c in enumerate(cached):
            if c is not None:
                embs[i] = c
        if todo:
            fresh = [records[i] for i in todo]
            embs[todo] = engine.featurizer.embed(fresh)
            store.cache_embeddings(bundle.digest, fresh, embs[todo])
        if records:
            engine.add_cold([r.item_id for r in records], embs)
    for user, items in store.load_seen().items():
        for item_id in items:
            engine.note_seen(user, item_id)


def _timestamp(iso: str) -> float:
    """A manifest's `created_at` as Unix time; -inf when absent or unreadable (older bundles)."""
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return float("-inf")


def _chunks(
    pairs: Iterable[tuple[ItemRecord, np.ndarray | None]], size: int = 500
) -> Iterator[tuple[list[ItemRecord], list[np.ndarray | None]]]:
    """Group (record, cached embedding) pairs into lists of `size`."""
    records: list[ItemRecord] = []
    cached: list[np.ndarray | None] = []
    for rec, emb in pairs:
        records.append(rec)
        cached.append(emb)
        if len(records) == size:
            yield records, cached
            records, cached = [], []
    if records:
        yield records, cached
