"""GET/POST /admin/bundle, POST /admin/bundle/promote, DELETE /admin/bundle/candidate: roll a
new bundle out with no downtime, or A/B it against the serving one (service/rollout.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from service.deps import RolloutDep
from service.guard import require_read, require_write
from service.rollout import Rollout
from service.schemas import PROBLEM_RESPONSES, Problem

router = APIRouter(
    prefix="/admin/bundle",
    tags=["rollout"],
    responses={**PROBLEM_RESPONSES, 409: {"model": Problem}},
)


class BundleIn(BaseModel):
    """A bundle to roll out: to every user, or with `share` to that share of users (an A/B)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"path": "runs/shop-v2"}, {"path": "/b/v2", "share": 0.2}]},
    )

    path: str = Field(
        min_length=1,
        max_length=4096,
        description="a run directory holding bundle/, or the bundle directory, as the replicas "
        "see it (every replica loads it from this path)",
    )
    share: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="absent: the bundle replaces the active one for every user (an A/B in "
        "progress ends); 0-1: it is the A/B candidate, serving this share of users (by a "
        "stable hash of the user id)",
    )


class BundleOut(BaseModel):
    path: str = Field(description="the bundle directory, resolved")
    digest: str = Field(description="SHA-256 of its manifest.json")
    model: str
    dataset: str
    created_at: str
    dim: int


class CandidateOut(BundleOut):
    share: float = Field(description="the share of users it serves")


class RolloutOut(BaseModel):
    active: BundleOut
    candidate: CandidateOut | None = Field(description="the A/B candidate, if any")
    loading: str | None = Field(description="a bundle this replica is loading now")
    error: str | None = Field(
        description="why this replica could not serve the rollout recorded by another one"
    )
    replica: str = Field(description="this replica's id (the one that answered)")


def _out(rollout: Rollout) -> RolloutOut:
    state: dict[str, Any] = rollout.describe()
    return RolloutOut.model_validate(state)


@router.get("", response_model=RolloutOut, dependencies=[Depends(require_read)])
def get_bundle(rollout: RolloutDep) -> RolloutOut:
    """The bundles this replica serves: the active one and any A/B candidate."""
    return _out(rollout)


@router.post("", response_model=RolloutOut, dependencies=[Depends(require_write)])
async def post_bundle(rollout: RolloutDep, body: Annotated[BundleIn, Body()]) -> RolloutOut:
    """Load a bundle beside the serving one (requests keep being served meanwhile), re-project
    the registered items it does not hold, index it and swap to it atomically; or, with
    `share`, serve it to that share of users. Recorded in Redis and announced on the stream:
    every replica follows. Answers once this replica serves it; a bundle that cannot be loaded
    or cannot serve this live state (another dataset, other modalities) is a 422 and the old
    one keeps serving."""
    await asyncio.to_thread(rollout.roll_out, body.path, body.share)
    return _out(rollout)


@router.post("/promote", response_model=RolloutOut, dependencies=[Depends(require_write)])
async def promote(rollout: RolloutDep) -> RolloutOut:
    """The A/B candidate becomes the active bundle for every user (409 without a candidate)."""
    await asyncio.to_thread(rollout.promote)
    return _out(rollout)


@router.delete("/candidate", response_model=RolloutOut, dependencies=[Depends(require_write)])
async def drop_candidate(rollout: RolloutDep) -> RolloutOut:
    """End the A/B: every user is served by the active bundle again (idempotent)."""
    await asyncio.to_thread(rollout.drop)
    return _out(rollout)
