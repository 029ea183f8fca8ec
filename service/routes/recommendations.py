"""GET /users/{id}/recommendations."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Response

from service.deps import RolloutDep, SettingsDep
from service.errors import InvalidRequest
from service.guard import require_read
from service.schemas import ID_PATTERN, PROBLEM_RESPONSES, RecommendationsOut

router = APIRouter(tags=["recommendations"], responses=PROBLEM_RESPONSES)
VARIANT_HEADER = "X-Coldrec-Variant"


@router.get(
    "/users/{user_id}/recommendations",
    response_model=RecommendationsOut,
    dependencies=[Depends(require_read)],
    responses={
        200: {
            "headers": {
                "X-Coldrec-Variant": {
                    "description": "the A/B arm that answered: control (the active bundle) "
                    "or candidate (POST /admin/bundle with a share)",
                    "schema": {"type": "string", "enum": ["control", "candidate"]},
                }
            }
        }
    },
)
async def recommend(
    rollout: RolloutDep,
    settings: SettingsDep,
    user_id: Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)],
    k: Annotated[int, Query(ge=1, le=10_000)] = 20,
    pool: Annotated[Literal["all", "warm", "cold"], Query()] = "all",
) -> Response:
    """Top-k items by inner product, the user's seen items excluded; `pool=cold` lists only
    items registered online ("new for you"). Unknown users get `source: "fallback"`."""
    if k > settings.max_k:
        raise InvalidRequest(f"k={k} is over the limit of {settings.max_k}")
    engine = rollout.engine_for(user_id)  # the A/B candidate for its share of users
    rec = await engine.recommend_async(user_id, k, pool)  # the search runs off the event loop
    # The hot path: the body (RecommendationsOut, as documented) is written with orjson directly;
    # building and re-validating pydantic models of k items cost more than the search at 10k.
    body = {
        "user_id": rec.user_id,
        "source": rec.source,
        "pool": rec.pool,
        "k": k,
        "items": [{"item_id": s.item_id, "score": s.score, "cold": s.cold} for s in rec.items],
    }
    headers = {VARIANT_HEADER: engine.variant}  # the A/B arm that answered (control: active)
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)
