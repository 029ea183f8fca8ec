"""Rebuild an engine from Redis: retirements, registered items (cached embeddings or a
re-projection, cached under the bundle's digest) and every user's online interactions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from service.floor import row_dim
from service.store import Registered

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
    for chunk in _chunks(store.iter_registered(store.registered_ids(), bundle.digest)):
        mine = [r for r in chunk if not (r.registered_at <= made and r.item_id in bundle.item_ids)]
        width = row_dim(engine.catalogue, bundle.manifest.dim)  # dim, + dc under a content floor
        embs = np.zeros((len(mine), width), dtype=np.float32)  # [n, width]
        for i, r in enumerate(mine):
            if r.embedding is not None:
                embs[i] = r.embedding
        todo = [i for i, r in enumerate(mine) if r.record is not None]  # no cached projection
        if todo:
            records = [r.record for r in mine if r.record is not None]
            embs[todo] = engine.featurizer.embed(records)
            store.cache_embeddings(bundle.digest, records, embs[todo])
        keep = _changed(engine, [r.item_id for r in mine], embs)
        if len(keep):
            engine.add_cold([mine[i].item_id for i in keep], embs[keep])
    for user, items in store.load_seen().items():
        for item_id in items:
            engine.note_seen(user, item_id)


def _changed(engine: Engine, ids: list[str], embs: np.ndarray) -> np.ndarray:
    """Rows of `ids` whose projection `embs` [n, dim] (then its content under a content floor)
    the index does not already hold as cold.

    At start the index holds none of them. A replay of a serving engine (Redis back, a trimmed
    stream) finds most already there: re-adding them would retire and append every row, one
    compaction of the whole kind per chunk (minutes at a million items), for nothing.
    """
    rows = []
    for j, item_id in enumerate(ids):
        idx = engine.item_ids.get(item_id)
        if idx is not None and engine.catalogue.kind_of(idx) == "cold":
            held = engine.catalogue.vectors([idx])  # [1, dim]: the model part of its row
            if len(held) and np.array_equal(held[0], embs[j, : held.shape[1]]):
                continue
        rows.append(j)
    return np.asarray(rows, dtype=np.int64)


def _timestamp(iso: str) -> float:
    """A manifest's `created_at` as Unix time; -inf when absent or unreadable (older bundles)."""
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return float("-inf")


def _chunks(items: Iterable[Registered], size: int = 2000) -> Iterator[list[Registered]]:
    """Group what `Store.iter_registered` yields into lists of `size` (an index write each)."""
    chunk: list[Registered] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
