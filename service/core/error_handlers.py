"""The one error model and the one place where exceptions become it: HTTP responses here, WebSocket ``error``
messages in ``video/protocol.py`` (made from the same ``ErrorDetail``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.routing import Match

from sam2refiner.model.errors import InvalidInputError

from .errors import DomainError, InternalError, InvalidFieldError, MalformedJsonError, ServiceError


class FieldIssue(BaseModel):
    field: str
    message: str
    type: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable reason, listed in the README")
    message: str = Field(description="what went wrong, for a person")
    field: str | None = Field(None, description="the request field at fault (dotted path), if any")
    # In JSON ``field`` is always there (null when none), ``details`` only when there are some.
    details: list[FieldIssue] | None = Field(
        None, description="every validation issue, when there were several", exclude_if=lambda v: v is None
    )


class ErrorBody(BaseModel):
    """The body of every error answer of the HTTP API."""

    error: ErrorDetail

    @classmethod
    def of(cls, code: str, field: str | None, message: str, details=None) -> dict:
        return cls(error=ErrorDetail(code=code, field=field, message=message, details=details)).model_dump()

    @classmethod
    def from_error(cls, exc: ServiceError) -> dict:
        return cls.of(exc.code, exc.field, exc.message)


def as_service_error(exc: Exception, internal_message: str = "internal error") -> ServiceError:
    """``exc`` as the ServiceError the client sees: model input errors are invalid fields, a layer's domain errors
    what they name, anything unexpected is an internal error (its details stay in the log)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, InvalidInputError):
        return InvalidFieldError(exc.argument, exc.detail)
    if isinstance(exc, DomainError) and exc.answer is not InternalError:
        return exc.answer(exc.field, str(exc))
    return InternalError(None, internal_message)


def _loc_to_field(loc) -> str:
    # pydantic locations start with "body"/"query"; the client knows its fields without that prefix.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def field_of(error: dict) -> str:
    """The field a pydantic error is about. Model-level validators say it as the message's first word
    ("box: ...")."""
    if error.get("type") == "json_invalid":
        return "body"
    field = _loc_to_field(error["loc"])
    ctx_error = (error.get("ctx") or {}).get("error")
    if ctx_error is not None:
        head, sep, _ = str(ctx_error).partition(": ")
        if sep and head.replace(".", "_").isidentifier():
            field = f"{field}.{head}" if field and field != "body" else head
    return field


def clean_message(error: dict) -> str:
    """pydantic prefixes validator messages with "Value error, "; the client reads the message itself."""
    return str(error.get("msg", "")).removeprefix("Value error, ")


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at the request's path, but the request's own (a 405 says it is not allowed,
    also when the route that took it refused it). Starlette's 405 names only the first route that matched the
    path: ``Allow: GET`` where another route serves DELETE at the same path."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if method != request.method
        and any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def _response(exc: ServiceError) -> JSONResponse:
    return JSONResponse(ErrorBody.from_error(exc), status_code=exc.status, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_req: Request, exc: ServiceError):
        return _response(exc)

    @app.exception_handler(DomainError)
    async def _domain(_req: Request, exc: DomainError):
        return _response(as_service_error(exc))

    @app.exception_handler(InvalidInputError)
    async def _model_input(_req: Request, exc: InvalidInputError):
        # A safety net: the service validates first, but the model's own checks must still answer 422.
        return _response(InvalidFieldError(exc.argument, exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "invalid"}
        code = "malformed_json" if first.get("type") == "json_invalid" else "invalid_field"
        field = "body" if code == "malformed_json" else field_of(first)
        details = [FieldIssue(field=field_of(e), message=clean_message(e), type=e["type"]) for e in errors]
        return JSONResponse(ErrorBody.of(code, field, clean_message(first), details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
            # FastAPI answers a body json.loads raised on other than JSONDecodeError (a 5,000-digit integer, deep
            # nesting) with a bare 400; it is malformed JSON like any other.
            return _response(MalformedJsonError("body", f"not valid JSON: {str(exc.__cause__)[:200]}"))
        if exc.status_code == 400 and isinstance(exc.__context__, MultiPartException):
            # Starlette answers a multipart body it cannot parse with a bare 400: an invalid body, as for JSON.
            return _response(
                InvalidFieldError("body", f"not a multipart/form-data body this service parses: {exc.detail}")
            )
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(_req))}
        return JSONResponse(
            ErrorBody.of("http_error", None, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def _internal(_req: Request, _exc: Exception):
        # Starlette logs the traceback and re-raises after this answer; the client gets only the error body.
        return _response(InternalError(None, "internal error"))
