"""The video WebSocket's messages."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ..core.error_handlers import ErrorDetail, as_service_error


class WsErrorMessage(BaseModel):
    """A WebSocket ``error`` message: ``error`` is the HTTP error object; ``code``, ``field`` and ``message`` repeat
    it at the top level, where the protocol had them first (kept for clients written against that)."""

    type: Literal["error"] = "error"
    error: ErrorDetail
    code: str
    field: str | None
    message: str

    @classmethod
    def from_error(cls, exc) -> dict:
        detail = ErrorDetail(code=exc.code, field=exc.field, message=exc.message)
        message = cls(error=detail, code=exc.code, field=exc.field, message=exc.message).model_dump()
        del message["error"]["details"]
        return message


def ws_error(exc: Exception) -> dict:
    """The WebSocket ``error`` message for ``exc``."""
    return WsErrorMessage.from_error(as_service_error(exc, "internal error; the session is unchanged"))
