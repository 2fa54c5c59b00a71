"""The service's own routes: liveness, readiness and metrics (no API key, no model work), and ``GET /v1/model``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from ..core import metrics
from ..core.deps import DrainDep, RuntimeDep, VideoSessionsDep
from ..core.errors import NotReadyError
from ..core.openapi import error_responses
from .model_info import ModelOut, describe

router = APIRouter()


class Status(BaseModel):
    status: str


@router.get("/healthz", response_model=Status, tags=["health"])
async def healthz() -> dict:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": Status, "description": "loading, or draining (shutting down)"}},
    tags=["health"],
)
async def readyz(drain: DrainDep, runtime: RuntimeDep):
    """200 once the model is loaded and warmed up, 503 before and from the moment a shutdown starts (SIGTERM)."""
    if drain.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    if runtime is None or not runtime.ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    return {"status": "ready"}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition", "content": {"text/plain": {}}}},
    tags=["metrics"],
)
async def prometheus_metrics(sessions: VideoSessionsDep) -> Response:
    """Prometheus exposition (scrapers live inside the deployment)."""
    if sessions is not None:  # sessions also expire while no message comes: the gauge follows at each scrape
        sessions.refresh_metrics()
    body, content_type = metrics.render_latest()
    return Response(body, media_type=content_type)


@router.get("/v1/model", response_model=ModelOut, responses=error_responses(503), tags=["model"])
async def model_info(runtime: RuntimeDep) -> dict:
    """What runs, on what, with which weights (a loud flag for random weights)."""
    if runtime is None:
        raise NotReadyError(None, "the model is still loading; retry shortly")
    return describe(runtime)
