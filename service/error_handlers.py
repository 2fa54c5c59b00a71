"""The one place where exceptions become HTTP responses and WebSocket ``error`` messages, both made from the one
error model (``service.schemas.ErrorBody``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sam2refiner.model.errors import InvalidInputError

from . import state_store
from .errors import (
    InternalError,
    InvalidFieldError,
    MalformedJsonError,
    ServiceError,
    SessionBusyAnswer,
    StaleStateAnswer,
    StoreUnavailableError,
)
from .schemas import ErrorBody, FieldIssue, WsErrorMessage

# Plain exceptions of layers that know nothing of HTTP -> the ServiceError a client is answered with.
DOMAIN_ERRORS: dict[type[Exception], type[ServiceError]] = {
    state_store.StateStoreUnavailable: StoreUnavailableError,
    state_store.SessionBusyError: SessionBusyAnswer,
    state_store.StaleStateError: StaleStateAnswer,
}


def as_service_error(exc: Exception, internal_message: str = "internal error") -> ServiceError:
    """``exc`` as the ServiceError the client sees: model input errors are invalid fields, store errors their
    codes, anything unexpected is an internal error (its details stay in the log)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, InvalidInputError):
        return InvalidFieldError(exc.argument, exc.detail)
    for kind in type(exc).__mro__:
        if kind in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[kind](None, str(exc))
    return InternalError(None, internal_message)


def ws_error(exc: Exception) -> dict:
    """The WebSocket ``error`` message for ``exc``."""
    return WsErrorMessage.from_error(as_service_error(exc, "internal error; the session is unchanged"))


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
        if sep and head.replace(".", "_").isidentifier():
            field = f"{field}.{head}" if field and field != "body" else head
    return field


def _response(exc: ServiceError) -> JSONResponse:
    return JSONResponse(ErrorBody.from_error(exc), status_code=exc.status, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_req: Request, exc: ServiceError):
        return _response(exc)

    async def _domain(_req: Request, exc: Exception):
        return _response(as_service_error(exc))

    for kind in DOMAIN_ERRORS:
        app.add_exception_handler(kind, _domain)

    @app.exception_handler(InvalidInputError)
    async def _model_input(_req: Request, exc: InvalidInputError):
        # A safety net: the service validates first, but the model's own checks must still answer 422.
        return _response(InvalidFieldError(exc.argument, exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "invalid"}
        for e in errors:  # pydantic prefixes validator messages with "Value error, "
            e["msg"] = str(e.get("msg", "")).removeprefix("Value error, ")
        code = "malformed_json" if first.get("type") == "json_invalid" else "invalid_field"
        field = "body" if code == "malformed_json" else _field_of(first)
        details = [FieldIssue(field=_field_of(e), message=e["msg"], type=e["type"]) for e in errors]
        return JSONResponse(ErrorBody.of(code, field, first["msg"], details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
            # FastAPI answers a body json.loads raised on other than JSONDecodeError (a 5,000-digit integer, deep
            # nesting) with a bare 400; it is malformed JSON like any other.
            return _response(MalformedJsonError("body", f"not valid JSON: {str(exc.__cause__)[:200]}"))
        return JSONResponse(
            ErrorBody.of("http_error", None, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _internal(_req: Request, _exc: Exception):
        # Starlette logs the traceback and re-raises after this answer; the client gets only the error body.
        return _response(InternalError(None, "internal error"))
