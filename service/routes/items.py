"""POST /items (register, upsert), GET /items/{id}, DELETE /items/{id}."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response

from service.deps import RolloutDep, SettingsDep
from service.engine import ItemView, NewItem
from service.errors import InvalidRequest
from service.guard import require_read, require_write
from service.schemas import (
    ID_PATTERN,
    PROBLEM_RESPONSES,
    ItemBatchIn,
    ItemDetail,
    ItemOut,
    ItemsBody,
    ItemsOut,
    Warmth,
)

router = APIRouter(tags=["items"], responses=PROBLEM_RESPONSES)
PathId = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]


def _out(view: ItemView) -> ItemOut:
    return ItemOut(
        id=view.item_id,
        kind=view.kind,
        cold=view.kind == "cold",
        source=view.source,  # type: ignore[arg-type]
        modalities=view.modalities,
        registered_at=view.registered_at,
    )


@router.post(
    "/items", status_code=201, response_model=ItemsOut, dependencies=[Depends(require_write)]
)
def register_items(
    rollout: RolloutDep,
    settings: SettingsDep,
    body: Annotated[ItemsBody, Body()],
) -> ItemsOut:
    """Register one item or a batch (upsert by id). Each is projected into the embedding space
    and is recommendable as soon as this answers."""
    received = time.time()
    items = body.items if isinstance(body, ItemBatchIn) else [body]
    if len(items) > settings.max_batch:
        raise InvalidRequest(
            f"{len(items)} items in one request; the limit is {settings.max_batch}"
        )
    new = [NewItem(it.id, it.features, it.text) for it in items]
    return ItemsOut(items=[_out(v) for v in rollout.register(new, received)])


@router.get("/items/{item_id}", response_model=ItemDetail, dependencies=[Depends(require_read)])
def get_item(rollout: RolloutDep, item_id: PathId) -> ItemDetail:
    """A servable item: warm (trained, from the bundle) or cold (registered online); a cold
    item says how warm it is (its takers, the weight of their mean: service/warmup.py)."""
    view = rollout.get_item(item_id)
    w = view.warmth
    return ItemDetail(
        **_out(view).model_dump(),
        warmth=None if w is None else Warmth(interactions=w[0], weight=w[1]),
    )


@router.delete("/items/{item_id}", status_code=204, dependencies=[Depends(require_write)])
def delete_item(rollout: RolloutDep, item_id: PathId) -> Response:
    """Retire an item: it is never recommended again (until registered anew)."""
    rollout.delete_item(item_id)
    return Response(status_code=204)
