"""Prometheus exposition (no API key: scrapers live inside the deployment)."""

from fastapi import APIRouter
from fastapi.responses import Response

from .. import metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
async def prometheus_metrics() -> Response:
    body, content_type = metrics.render_latest()
    return Response(body, media_type=content_type)
