"""Shared route dependencies: the engine and the settings (the API key is checked by ``middleware.ApiKeyAuth``).

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in its thread pool, and three
thread hops per request cost more than these few lines.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .inference import InferenceEngine
from .settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> InferenceEngine:
    return request.app.state.engine


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[InferenceEngine, Depends(get_engine)]
