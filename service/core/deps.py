"""What routes may depend on, as ``Annotated`` dependencies: the settings, the runtime, each feature's front (the
image engine, the video sessions) and the drain; all built in the lifespan and kept on ``app.state``. The API key
is checked by ``middleware.ApiKeyAuth`` before any route runs.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in its thread pool, and thread hops per
request cost more than these few lines. They take an ``HTTPConnection`` so the WebSocket route can use them too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from ..image.browser_decoder import BrowserDecoder
from ..image.engine import ImageEngine
from ..video.draining import Drain
from ..video.sessions import VideoSessions
from .errors import NotReadyError
from .runtime import Runtime
from .settings import Settings


async def get_settings(conn: HTTPConnection) -> Settings:
    return conn.app.state.settings


async def get_runtime(conn: HTTPConnection) -> Runtime | None:
    """None until the lifespan has loaded the model."""
    return getattr(conn.app.state, "runtime", None)


async def get_image_engine(conn: HTTPConnection) -> ImageEngine:
    engine = getattr(conn.app.state, "image_engine", None)
    if engine is None:
        raise NotReadyError(None, "the model is still loading; retry shortly")
    return engine


async def get_browser_decoder(conn: HTTPConnection) -> BrowserDecoder:
    decoder = getattr(conn.app.state, "browser_decoder", None)
    if decoder is None:
        raise NotReadyError(None, "the model is still loading; retry shortly")
    return decoder


async def get_video_sessions(conn: HTTPConnection) -> VideoSessions | None:
    """None until the lifespan has built them (the WebSocket answers a socket it accepted with ``not_ready``)."""
    return getattr(conn.app.state, "video_sessions", None)


async def get_drain(conn: HTTPConnection) -> Drain:
    return conn.app.state.drain


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime | None, Depends(get_runtime)]
ImageEngineDep = Annotated[ImageEngine, Depends(get_image_engine)]
BrowserDecoderDep = Annotated[BrowserDecoder, Depends(get_browser_decoder)]
VideoSessionsDep = Annotated[VideoSessions | None, Depends(get_video_sessions)]
DrainDep = Annotated[Drain, Depends(get_drain)]
