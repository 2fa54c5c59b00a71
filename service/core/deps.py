"""Shared route dependencies: the engine, the video sessions, the drain and the settings (the API key is
checked by ``middleware.ApiKeyAuth``).

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in its thread pool, and three
thread hops per request cost more than these few lines.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from ..image.engine import InferenceEngine
from ..video.draining import Drain
from ..video.sessions import VideoSessions
from .settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> InferenceEngine:
    return request.app.state.engine


async def get_video_sessions(conn: HTTPConnection) -> VideoSessions | None:
    """Built with the engine in the lifespan; None before (HTTPConnection: the WebSocket route depends on it too,
    and answers a socket it accepted with ``not_ready``)."""
    return getattr(conn.app.state, "video_sessions", None)


async def get_drain(conn: HTTPConnection) -> Drain:
    return conn.app.state.drain


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[InferenceEngine, Depends(get_engine)]
VideoSessionsDep = Annotated[VideoSessions | None, Depends(get_video_sessions)]
DrainDep = Annotated[Drain, Depends(get_drain)]
