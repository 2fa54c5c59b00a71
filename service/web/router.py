"""GET / : the single-page web app (image clicks and video tracking); ``/web/...`` its modules, styles and vendored
libraries, all from ``static/`` beside this file (package data: the wheel and the Docker image ship it).

Same origin as the API, so the API key (if set) and the WebSocket need no CORS. The page and its files are
served cross-origin isolated (COOP/COEP: it loads nothing from another origin), so its decoder may use threads. The page and its modules are
public (no API key): they hold no data, and the page asks for the key before it calls the API. The page's
tooling (README.md, scripts/) is not shipped.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Cross-origin isolation: the page and everything it loads (all same-origin) carry these, so the decoder's
# worker has SharedArrayBuffer and onnxruntime-web can run its WebAssembly on several threads.
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class IsolatedStaticFiles(StaticFiles):
    """``StaticFiles`` whose answers carry ``ISOLATION``."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(ISOLATION)
        return response


router = APIRouter(tags=["web"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache", **ISOLATION})


def mount_web_app(app: FastAPI) -> None:
    """``/`` answers the page; ``/web/...`` the rest of ``static/``."""
    app.include_router(router)
    app.mount("/web", IsolatedStaticFiles(directory=STATIC_DIR), name="web")
