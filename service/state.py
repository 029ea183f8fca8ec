"""The live state (Redis) and the catalogue it belongs to (issue 11 item 5).

Registered items, retirements and online interactions are kept per catalogue: items registered
for one dataset mean nothing in another. So the embedded Redis lives beside the bundle's run
(`RUN_DIR/state/redis.db`) or in `COLDREC_STATE_DIR`, never in whatever folder the service
starts in, and every state records the dataset it belongs to (`Keys.catalogue`). A bundle of
another dataset is refused unless `COLDREC_ADOPT_STATE` hands the state over; a retrained
bundle of the same dataset keeps the state (its registered items are re-projected).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis

from service.errors import StoreUnavailable
from service.settings import Settings
from service.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
STATE_DB = "redis.db"  # the embedded Redis file in a state folder
OTHER_STATE = (
    "another state (COLDREC_STATE_DIR or COLDREC_REDISLITE_PATH for the embedded Redis, "
    "COLDREC_NAMESPACE with COLDREC_REDIS_URL)"
)


class StateRefused(Exception):
    """The service will not start on this state; the message says why and what to set."""


def embedded_path(settings: Settings, bundle_dir: Path) -> Path:
    """The embedded Redis file: `COLDREC_REDISLITE_PATH`, else `COLDREC_STATE_DIR/redis.db`,
    else `state/redis.db` beside the bundle (in its run directory). Its folder is created, and
    must be writable (a read-only bundle volume needs one of the two settings)."""
    if settings.redislite_path is not None:
        path, setting = settings.redislite_path, "COLDREC_REDISLITE_PATH"
    elif settings.state_dir is not None:
        path, setting = settings.state_dir / STATE_DB, "COLDREC_STATE_DIR"
    else:
        path, setting = bundle_dir.resolve().parent / "state" / STATE_DB, ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(path.parent, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        fix = (
            f"set {setting} to a writable place"
            if setting
            else "it is beside the bundle (a read-only volume?): set COLDREC_STATE_DIR (a "
            "writable folder) or COLDREC_REDISLITE_PATH (a file in one)"
        )
        raise StateRefused(f"cannot write the embedded Redis state in {path.parent}: {fix}")
    return path


def describe(settings: Settings, path: Path | None) -> str:
    """Where the state is, for messages (never the Redis URL: it may hold a password)."""
    if settings.redis_url:
        return f"namespace {settings.namespace!r} of COLDREC_REDIS_URL"
    return f"namespace {settings.namespace!r} of the embedded Redis {path}"


def claim(
    store: Store, settings: Settings, where: str, dataset: str, bundle: dict[str, str]
) -> None:
    """Record that the state belongs to `dataset` (an empty state), or check that it does.

    Refused: a state of another dataset, or a non-empty state with no record (written before
    records were kept), unless `settings.adopt_state`, which records `dataset` instead.
    `bundle` (model, digest, ...) is kept for messages only: a retrained model of the same
    dataset keeps the state.
    """
    key = store.keys.catalogue
    record = json.dumps({"dataset": dataset, **bundle, "claimed_at": time.time()})
    created = bool(_guard("claim_state", lambda: store.client.set(key, record, nx=True)))
    if created:  # there was no record: an empty state is ours, an older one is refused
        if settings.adopt_state or not _had_state(store):
            log.info("live state (%s) recorded as dataset %r", where, dataset)
            return
        _guard("claim_state", lambda: store.client.delete(key))
        raise StateRefused(
            f"the live state ({where}) holds items or interactions but no record of its "
            f"dataset (it predates them), and this bundle is of dataset {dataset!r}: set "
            f"COLDREC_ADOPT_STATE=true to keep it for {dataset!r}, or use {OTHER_STATE}"
        )
    held: dict[str, Any] = json.loads(_guard("claim_state", lambda: store.client.get(key)))
    if held.get("dataset") == dataset:
        return
    claimed_by = f"{held.get('model', '?')} bundle {str(held.get('digest', '?'))[:12]}"
    if not settings.adopt_state:
        raise StateRefused(
            f"the live state ({where}) belongs to dataset {held.get('dataset')!r} (recorded "
            f"by the {claimed_by}), but this bundle is of dataset {dataset!r}: their registered "
            f"items and interactions would mix. Use {OTHER_STATE}, or set "
            f"COLDREC_ADOPT_STATE=true to hand this state over to {dataset!r}"
        )
    log.warning(
        "COLDREC_ADOPT_STATE: the live state (%s) of dataset %r now belongs to dataset %r",
        where,
        held.get("dataset"),
        dataset,
    )
    _guard("claim_state", lambda: store.client.set(key, record))


def _had_state(store: Store) -> bool:
    """Anything registered, retired or interacted with, or any event, under the namespace."""
    k = store.keys
    names = (k.items, k.retired, k.users, k.events)
    return bool(_guard("claim_state", lambda: store.client.exists(*names)))


def _guard(op: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except redis.RedisError as exc:
        raise StoreUnavailable(f"Redis is unavailable ({op}): {type(exc).__name__}") from exc
