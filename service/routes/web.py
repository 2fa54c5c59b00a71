"""GET / : the single-page web app (image clicks and video tracking), served from ``service/web``.

Same origin as the API, so the API key (if set) and the WebSocket need no CORS. The page and its modules are
public (no API key): they hold no data, and the page asks for the key before it calls the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"  # package data (pyproject: tool.setuptools.package-data)

router = APIRouter(tags=["web"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def mount_web_app(app: FastAPI) -> None:
    """``/`` answers the page; ``/web/...`` its scripts and styles."""
    app.include_router(router)
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")
