"""Read the live state the service keeps, for `coldrec export` (issue 14 item 1).

The same state the service reads (`COLDREC_REDIS_URL` + `COLDREC_NAMESPACE`, or the embedded
Redis beside the run, `service.state.embedded_path`), read in chunks: the registered items, the
retired ids and every interaction of the interaction log (`Keys.log`), which the service appends
to beside the (trimmed) event stream and which only an export trims. An embedded Redis that a
running service holds is read through its socket and left running. Nothing of `training/` is
imported here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from service.keys import Keys
from service.redis_conn import connect
from service.settings import Settings
from service.state import StateRefused, describe, embedded_path
from service.store import Interaction, ItemRecord, Store

NO_ID = "0-0"


class LiveState:
    """Chunked reads of one state (a namespace of a Redis); `where` names it for messages."""

    def __init__(self, store: Store, where: str) -> None:
        self.store = store
        self.client: Any = store.client
        self.keys = store.keys
        self.where = where

    @classmethod
    @contextmanager
    def open(cls, settings: Settings, bundle_dir: Path) -> Iterator[LiveState | None]:
        """The state the service on `bundle_dir` reads; None when an embedded one was never
        written (nothing was registered or posted). A server this opened is stopped after."""
        if settings.redis_url:
            client, close = connect(settings.redis_url, None)
            where = describe(settings, None)
        else:
            path = embedded_path(settings, bundle_dir)
            socket = running_socket(path)
            if socket is not None:  # a service holds it: read through its socket, stop nothing
                client = redis.Redis(unix_socket_path=socket, socket_timeout=30)
                close = client.close
            elif path.exists():
                client, close = connect(None, path)
            else:
                yield None
                return
            where = describe(settings, path)
        try:
            yield cls(Store(client, Keys(settings.namespace)), where)
        finally:
            close()

    def check(self, dataset: str) -> dict[str, Any] | None:
        """The state's catalogue record, refused (`StateRefused`) unless it is of `dataset`; None
        for an empty state with no record."""
        raw = self.client.get(self.keys.catalogue)
        if raw is None:
            k = self.keys
            if self.client.exists(k.items, k.retired, k.users, k.events, k.log):
                raise StateRefused(
                    f"the live state ({self.where}) holds items or interactions but no record of "
                    f"its dataset (it predates them); the run is of dataset {dataset!r}: start "
                    "the service on the run once (COLDREC_ADOPT_STATE=true) to record it"
                )
            return None
        record: dict[str, Any] = json.loads(raw)
        if record.get("dataset") != dataset:
            raise StateRefused(
                f"the live state ({self.where}) belongs to dataset {record.get('dataset')!r}, "
                f"but the run is of dataset {dataset!r}: point COLDREC_REDIS_URL / "
                "COLDREC_NAMESPACE (or COLDREC_STATE_DIR / COLDREC_REDISLITE_PATH) at its state"
            )
        return record

    # -- items ---------------------------------------------------------------------------------
    def retired_ids(self) -> set[str]:
        return self.store.retired_ids()

    def registered_ids(self) -> list[str]:
        return self.store.registered_ids()

    def iter_items(self, ids: list[str], chunk: int = 500) -> Iterator[ItemRecord]:
        """The records of `ids` (raw text or features), `chunk` hashes a round trip."""
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            pipe = self.client.pipeline(transaction=False)
            for item_id in part:
                pipe.hgetall(self.keys.item(item_id))
            for item_id, data in zip(part, pipe.execute(), strict=True):
                if data:  # retired since the ids were read
                    yield ItemRecord.from_hash(item_id, data)

    # -- the interaction log -------------------------------------------------------------------
    def log_end(self) -> str:
        """The id of the newest logged interaction ("0-0" when none)."""
        rows = self.client.xrevrange(self.keys.log, count=1)
        return _text(rows[0][0]) if rows else NO_ID

    def log_length(self) -> int:
        return int(self.client.xlen(self.keys.log))

    def iter_log(self, after: str, until: str, chunk: int = 10_000) -> Iterator[Interaction]:
        """Logged interactions with `after` < id <= `until`, oldest first, `chunk` a read."""
        low = f"({after}" if after != NO_ID else "-"
        while True:
            rows = self.client.xrange(self.keys.log, min=low, max=until, count=chunk)
            for eid, fields in rows:
                yield Interaction.from_event(_text(eid), fields)
            if len(rows) < chunk:
                return
            low = f"({_text(rows[-1][0])}"

    def iter_unlogged(self, chunk: int = 10_000) -> Iterator[Interaction]:
        """Interactions of the event stream posted before the log existed (a state written by
        an older service): those older than the log's first entry, as far as the stream keeps
        them."""
        first = self.client.xrange(self.keys.log, count=1)
        before = float(first[0][1].get(b"ts", b"0")) if first else float("inf")
        low = "-"
        while True:
            rows = self.client.xrange(self.keys.events, min=low, count=chunk)
            for eid, fields in rows:
                if fields.get(b"type") != b"interaction":
                    continue
                event = Interaction.from_event(_text(eid), fields)
                if event.ts >= before:
                    return
                yield event
            if len(rows) < chunk:
                return
            low = f"({_text(rows[-1][0])}"

    def trim_log(self, upto: str) -> int:
        """Drop the logged interactions with an id below `upto` (kept elsewhere: the data of
        the run being exported); returns how many went."""
        return int(self.client.xtrim(self.keys.log, minid=upto, approximate=False))


def running_socket(path: Path) -> str | None:
    """The unix socket of a live redislite server on the file `path` (its registry file
    `<path>.settings` names it), or None."""
    registry = Path(f"{path}.settings")
    try:
        settings = json.loads(registry.read_text())
        pid = int(Path(settings["pidfile"]).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    socket = str(settings.get("unixsocket", ""))
    return socket if socket and Path(socket).exists() else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
