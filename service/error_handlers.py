"""The one place where exceptions become HTTP responses with the error body of ``service.errors``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model.errors import InvalidInputError

from .errors import ServiceError, error_body


def _loc_to_field(loc) -> str:
    # pydantic locations start with "body"/"query"; the client knows its fields without that prefix.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def _field_of(error: dict) -> str:
    """The field an error is about. Model-level validators say it as the message's first word ("box: ...")."""
    if error.get("type") == "json_invalid":
        return "body"
    field = _loc_to_field(error["loc"])
    ctx_error = (error.get("ctx") or {}).get("error")
    if ctx_error is not None:
        head, sep, _ = str(ctx_error).partition(": ")
        if sep and head.isidentifier():
            field = f"{field}.{head}" if field and field != "body" else head
    return field


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_req: Request, exc: ServiceError):
        return JSONResponse(error_body(exc.code, exc.field, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(InvalidInputError)
    async def _model_input(_req: Request, exc: InvalidInputError):
        # A safety net: the service validates first, but the model's own checks must still answer 422.
        return JSONResponse(error_body("invalid_field", exc.argument, exc.detail), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "invalid"}
        for e in errors:  # pydantic prefixes validator messages with "Value error, "
            e["msg"] = str(e.get("msg", "")).removeprefix("Value error, ")
        code = "malformed_json" if first.get("type") == "json_invalid" else "invalid_field"
        field = "body" if code == "malformed_json" else _field_of(first)
        details = [{"field": _field_of(e), "message": e["msg"], "type": e["type"]} for e in errors]
        return JSONResponse(error_body(code, field, first["msg"], details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        return JSONResponse(
            error_body("http_error", None, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
