"""Liveness and readiness: no API key, no model work."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Status(BaseModel):
    status: str


@router.get("/healthz", response_model=Status)
async def healthz() -> dict:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": Status, "description": "loading, or draining (shutting down)"}},
)
async def readyz(request: Request):
    """200 once the model is loaded and warmed up, 503 before and from the moment a shutdown starts (SIGTERM)."""
    if request.app.state.drain.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    engine = getattr(request.app.state, "engine", None)
    if engine is None or not engine.ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    return {"status": "ready"}
