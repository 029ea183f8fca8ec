"""A/B of bundles: which users the candidate bundle serves, and which arm served a list.

A user is on the candidate when a stable hash of their id (SHA-256, salted with the candidate
bundle's digest; never Python's per-process `hash`) falls under the share, so every replica and
every request agree without talking, and a larger share keeps the users a smaller one had.

A hit is credited to the arm whose list showed the item. The recent-recommendation ZSET (one per
user, item -> time of the latest list that showed it) is kept as is; lists the candidate served
are also noted in `Keys.served_by` (item -> the list's time). An item was last shown by the
candidate when the two times agree; otherwise (no note, or a later control list) by control.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from service.recent import Recent
    from service.store import Store

CONTROL: Final = "control"
CANDIDATE: Final = "candidate"
VARIANTS: Final = (CONTROL, CANDIDATE)


def bucket(user_id: str, salt: str) -> float:
    """A number in [0, 1) fixed by `user_id` and `salt`, the same in every process."""
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def on_candidate(user_id: str, salt: str, share: float) -> bool:
    """Whether the candidate (salt: its digest) serves `user_id` at this share."""
    return share > 0.0 and bucket(user_id, salt) < share


def remember_candidate_lists(store: Store, lists: Sequence[Recent], ttl_s: int) -> None:
    """Note that the candidate served `lists` (after their items are in the recent ZSETs)."""
    pipe = store.client.pipeline(transaction=False)
    for rec in lists:
        if rec.items:
            key = store.keys.served_by(rec.user)
            pipe.hset(key, mapping=dict.fromkeys(rec.items, repr(rec.ts)))
            pipe.expire(key, ttl_s)
    store._call("remember_variant", pipe.execute)  # noqa: SLF001 (the store's error mapping)


def served_by(store: Store, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """For each (user, item): the arm whose latest list showed the item (control by default).

    Read before the interactions are recorded (a hit takes the item off the recent list)."""

    def run() -> list[Any]:
        pipe = store.client.pipeline(transaction=False)
        for user, item in pairs:
            pipe.zscore(store.keys.recent(user), item)
            pipe.hget(store.keys.served_by(user), item)
        replies: list[Any] = pipe.execute()
        return replies

    replies = store._call("served_by", run)  # noqa: SLF001
    out = []
    for shown, noted in zip(replies[::2], replies[1::2], strict=True):
        cand = shown is not None and noted is not None and float(noted) >= float(shown)
        out.append(CANDIDATE if cand else CONTROL)
    return out
