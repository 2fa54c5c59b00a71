"""Shared route dependencies: the engine, the settings and the optional bearer API key.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in its thread pool, and three
thread hops per request cost more than these few lines.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import UnauthorizedError
from .inference import InferenceEngine
from .settings import Settings

_bearer = HTTPBearer(auto_error=False)


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> InferenceEngine:
    return request.app.state.engine


async def require_api_key(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Every route but health and metrics depends on this; without a configured key it lets all through."""
    key = request.app.state.settings.api_key
    if key is None:
        return
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), key.get_secret_value().encode()):
        raise UnauthorizedError("authorization", "missing or wrong bearer API key", headers={"WWW-Authenticate": "Bearer"})


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
EngineDep = Annotated[InferenceEngine, Depends(get_engine)]
