"""POST /interactions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from service.deps import RolloutDep, SettingsDep
from service.errors import InvalidRequest
from service.guard import require_write
from service.schemas import (
    PROBLEM_RESPONSES,
    InteractionBatchIn,
    InteractionOut,
    InteractionsBody,
    InteractionsOut,
)

router = APIRouter(tags=["interactions"], responses=PROBLEM_RESPONSES)


@router.post(
    "/interactions",
    status_code=201,
    response_model=InteractionsOut,
    dependencies=[Depends(require_write)],
)
def post_interactions(
    rollout: RolloutDep,
    settings: SettingsDep,
    body: Annotated[InteractionsBody, Body()],
) -> InteractionsOut:
    """Record one interaction or a batch. Each is excluded from the user's later recommendations
    and counts as a hit (cold or warm) when the item was recently recommended to that user; its
    `event` kind is stored with it (in the event stream)."""
    rows = body.interactions if isinstance(body, InteractionBatchIn) else [body]
    if len(rows) > settings.max_batch:
        raise InvalidRequest(f"{len(rows)} interactions; the limit is {settings.max_batch}")
    results = rollout.interact([(r.user_id, r.item_id) for r in rows], [r.event for r in rows])
    out = [
        InteractionOut(
            user_id=user, item_id=item, hit=hit, cold=None if kind is None else kind == "cold"
        )
        for user, item, hit, kind in results
    ]
    return InteractionsOut(recorded=len(out), hits=sum(o.hit for o in out), interactions=out)
