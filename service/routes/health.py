"""GET /healthz (the process answers), /readyz (bundle loaded, Redis answers), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.deps import EngineDep
from service.errors import ModelNotReady, StoreUnavailable
from service.schemas import PROBLEM_RESPONSES, Health, Ready

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses={503: PROBLEM_RESPONSES[503]})
def readyz(engine: EngineDep) -> Ready:
    """Readiness: the bundle is loaded, Redis answers; with the index size by kind."""
    if not engine.store.ping():
        raise StoreUnavailable("Redis does not answer PING")
    if not engine.synced:
        raise ModelNotReady("catching up with Redis (it was down at start): bundle items only")
    m = engine.bundle.manifest
    return Ready(
        status="ready",
        redis=True,
        items={str(k): n for k, n in engine.catalogue.sizes().items()},
        bundle={
            "model": m.model,
            "dataset": m.dataset,
            "dim": m.dim,
            "digest": engine.bundle.digest,
        },
    )


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus exposition of the `coldrec_` metrics."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
