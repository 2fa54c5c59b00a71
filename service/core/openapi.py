"""The OpenAPI document as the contract: per route every status it can answer, each error with the one error
body (``error_handlers.ErrorBody``), the bearer scheme on every route the API key guards when the server has one.

Routes declare their own statuses with ``error_responses(404, 422, ...)``; ``install_openapi`` adds what the
middleware answers for any guarded route (401) and the scheme itself, while an API key is set.
"""

from __future__ import annotations

import copy

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .error_handlers import ErrorBody
from .middleware import DOCS_PATHS, OPEN_PATHS

STATUS_MEANING = {
    401: "Missing or wrong API key (`unauthorized`)",
    404: "Unknown or evicted id, or no such session (`unknown_id`); an unknown route (`http_error`)",
    409: "Conflicting state: refine asked of a server without a refiner (`refiner_not_loaded`), another worker "
    "advancing the session (`session_busy`, `stale_state`)",
    413: "Body or image over the limit (`too_large`)",
    422: "Malformed JSON (`malformed_json`) or an invalid field (`invalid_field`), named in `error.field`; a video "
    "session whose stored state cannot be read (`session_unreadable`: delete it)",
    503: "Queue full, model not ready or worker draining (`queue_full`, `not_ready`, `draining`), state store down "
    "(`state_store_unavailable`); "
    "with `Retry-After` where retrying helps",
}
SECURITY_SCHEME = "bearerAuth"
# A model field bounded by a setting says which (Field(json_schema_extra={LIMIT_KEY: "max_points"})); the
# document gives the running server's value as maxItems.
LIMIT_KEY = "x-limit-setting"


def error_responses(*statuses: int) -> dict:
    """``responses=`` for a route: each status with the error body model."""
    return {status: {"model": ErrorBody, "description": STATUS_MEANING[status]} for status in statuses}


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()``: the routes with their answers and this server's limits, and, while the server has an API key (read per call, as
    the middleware reads it), the bearer scheme and 401 on every guarded route. Without a key the document
    declares no auth: nothing asks for one."""
    guarded: dict | None = None

    def openapi() -> dict:
        nonlocal guarded
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
            app.openapi_schema = _with_limits(schema, app.state.settings)
        if app.state.settings.api_key is None:
            return app.openapi_schema
        if guarded is None:
            guarded = _with_api_key(app.openapi_schema)
        return guarded

    app.openapi = openapi


def _with_limits(node, settings):
    """Every ``{LIMIT_KEY: name}`` in the document becomes ``maxItems``: the setting's value."""
    if isinstance(node, list):
        return [_with_limits(item, settings) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _with_limits(value, settings) for key, value in node.items() if key != LIMIT_KEY}
    if LIMIT_KEY in node:
        out["maxItems"] = getattr(settings, node[LIMIT_KEY])
    return out


def _with_api_key(document: dict) -> dict:
    schema = copy.deepcopy(document)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "SAM2REFINER_API_KEY; a WebSocket may send ?api_key= instead",
    }
    unauthorized = {
        "description": STATUS_MEANING[401],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for path, operations in schema.get("paths", {}).items():
        if path in OPEN_PATHS or path in DOCS_PATHS:
            continue
        for operation in operations.values():
            operation["security"] = [{SECURITY_SCHEME: []}]
            operation["responses"].setdefault("401", unauthorized)
    return schema
