"""Prometheus exposition (no API key: scrapers live inside the deployment)."""

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from .. import metrics

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition", "content": {"text/plain": {}}}},
)
async def prometheus_metrics(request: Request) -> Response:
    sessions = getattr(request.app.state, "video_sessions", None)
    if sessions is not None:  # sessions also expire while no message comes: the gauge follows at each scrape
        sessions.refresh_metrics()
    body, content_type = metrics.render_latest()
    return Response(body, media_type=content_type)
