"""FastAPI dependencies: the engine and settings built in the lifespan, found on app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.engine import Engine
from service.errors import ModelNotReady
from service.rollout import Rollout
from service.settings import Settings


async def get_engine(request: Request) -> Engine:
    """The engine (async: a plain attribute read, no threadpool hop)."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise ModelNotReady("the service is still loading its bundle")
    return engine  # type: ignore[no-any-return]


async def get_rollout(request: Request) -> Rollout:
    """The bundles served (the active one, an A/B candidate): routes that pick one per user."""
    rollout = getattr(request.app.state, "rollout", None)
    if rollout is None:
        raise ModelNotReady("the service is still loading its bundle")
    return rollout  # type: ignore[no-any-return]


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(get_engine)]
RolloutDep = Annotated[Rollout, Depends(get_rollout)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
