"""The OpenAPI document as the contract: per route every status it can answer, each error with the one error
body (``error_handlers.ErrorBody``), the bearer scheme on every route the API key guards.

Routes declare their own statuses with ``error_responses(404, 422, ...)``; ``install_openapi`` adds what the
middleware answers for any guarded route (401) and the scheme itself.
"""

from __future__ import annotations

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


def error_responses(*statuses: int) -> dict:
    """``responses=`` for a route: each status with the error body model."""
    return {status: {"model": ErrorBody, "description": STATUS_MEANING[status]} for status in statuses}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
                "type": "http",
                "scheme": "bearer",
                "description": "SAM2REFINER_API_KEY, when the server has one; a WebSocket may send ?api_key= instead",
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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
