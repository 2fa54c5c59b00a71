"""The service's own routes: liveness, readiness and metrics (no API key, no model work), and ``GET /v1/model``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from ..core import metrics
from ..core.deps import EngineDep
from .model_info import ModelOut

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
async def readyz(request: Request):
    """200 once the model is loaded and warmed up, 503 before and from the moment a shutdown starts (SIGTERM)."""
    if request.app.state.drain.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    engine = getattr(request.app.state, "engine", None)
    if engine is None or not engine.ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    return {"status": "ready"}


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition", "content": {"text/plain": {}}}},
    tags=["metrics"],
)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus exposition (scrapers live inside the deployment)."""
    sessions = getattr(request.app.state, "video_sessions", None)
    if sessions is not None:  # sessions also expire while no message comes: the gauge follows at each scrape
        sessions.refresh_metrics()
    body, content_type = metrics.render_latest()
    return Response(body, media_type=content_type)


@router.get("/v1/model", response_model=ModelOut, tags=["model"])
async def model_info(engine: EngineDep) -> dict:
    """What runs, on what, with which weights (a loud flag for random weights)."""
    return engine.describe()
