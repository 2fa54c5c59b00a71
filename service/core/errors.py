"""Domain errors and their one wire form, in one place.

Every error a client can cause becomes a 4xx whose JSON body names the field at fault, on HTTP

    {"error": {"code": "invalid_field", "field": "objects.0.box", "message": "x1 < x0 ..."}}

and on the WebSocket, as a message of type ``error`` holding the same object. The body's one pydantic model is
``ErrorBody`` in ``core/error_handlers.py`` (``ErrorMessage`` of ``video/protocol.py`` on the WebSocket). Every
``ServiceError`` subclass registers its code and HTTP status in ``ERROR_CODES``; the table of codes in
``docs/http-api.md`` is checked against it by a test.

Plain exceptions only (no FastAPI, no pydantic, no torch). Layers that know nothing of HTTP (the video state
store) raise a ``DomainError`` that names the ``ServiceError`` a client is answered with. The handlers that turn
them into HTTP responses live in ``core/error_handlers.py``.
"""

from __future__ import annotations

import json
from typing import ClassVar

# code -> HTTP status, filled by every ServiceError subclass (and the few codes made outside one, below).
ERROR_CODES: dict[str, int] = {}


class ServiceError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        ERROR_CODES[cls.code] = cls.status

    def __init__(self, field: str | None, message: str, headers: dict | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message, self.headers = field, message, headers or {}


class InvalidFieldError(ServiceError):
    status, code = 422, "invalid_field"


class MalformedJsonError(ServiceError):
    """The body or message is not JSON this service can parse (syntax, a 5,000-digit number, deep nesting)."""

    status, code = 422, "malformed_json"


class UnknownIdError(ServiceError):
    """An image_id or logits id that this server never made, or has evicted: the client must resend."""

    status, code = 404, "unknown_id"


class PayloadTooLargeError(ServiceError):
    status, code = 413, "too_large"


class UnreadableVideoError(ServiceError):
    """An uploaded file that FFmpeg (PyAV) cannot decode as a video."""

    status, code = 422, "unreadable_video"


class VideoLimitError(ServiceError):
    """A video file over the duration, frame-count or resolution limits."""

    status, code = 422, "video_over_limits"


class SessionFullError(ServiceError):
    """A file session would store more than its cap (``SAM2REFINER_VIDEO_FILE_SESSION_BYTES``): nothing is saved."""

    status, code = 413, "session_full"


class RefinerNotLoadedError(ServiceError):
    """``refine`` was asked for, but this server runs SAM 2 alone (no refiner checkpoint)."""

    status, code = 409, "refiner_not_loaded"


class QueueFullError(ServiceError):
    status, code = 503, "queue_full"


class NotReadyError(ServiceError):
    status, code = 503, "not_ready"


class UnauthorizedError(ServiceError):
    status, code = 401, "unauthorized"


class DuplicateFrameError(ServiceError):
    """A video message whose ``seq`` was applied before and whose reply is no longer kept."""

    status, code = 409, "duplicate_frame"


class SeqConflictError(ServiceError):
    """A video message whose ``seq`` was applied before with another content (another client numbering the same
    session, or one number used twice): it is not applied, and no other message's reply is sent for it."""

    status, code = 409, "seq_conflict"


class DecoderUnavailableError(ServiceError):
    """The page's in-browser decoder cannot be served (turned off, or its ONNX export failed): decode on the server."""

    status, code = 503, "decoder_unavailable"


class DrainingError(ServiceError):
    """The worker is shutting down: reconnect, another worker continues the session."""

    status, code = 503, "draining"


# How the video state store's own (plain) exceptions are answered (their ``DomainError.answer``).
class StoreUnavailableError(ServiceError):
    """Redis is down or frozen: retry the same message once it is back."""

    status, code = 503, "state_store_unavailable"


class SessionBusyAnswer(ServiceError):
    """Another worker (or request) is advancing the session: retry."""

    status, code = 409, "session_busy"


class StaleStateAnswer(ServiceError):
    """The session changed while this message was applied (nothing was saved): retry."""

    status, code = 409, "stale_state"


class SessionUnreadableError(ServiceError):
    """The video session's stored state cannot be read (damaged, or written by another model or format): the
    client deletes it (``DELETE /video/{session}`` or a ``close`` message) and starts it anew."""

    status, code = 422, "session_unreadable"


class InternalError(ServiceError):
    """A bug: answered without details (they are in the log)."""

    status, code = 500, "internal"


class DomainError(Exception):
    """A plain exception of a layer that knows nothing of HTTP; ``answer`` is the error its client gets (with the
    exception's text as the message, and ``field`` as its field)."""

    answer: ClassVar[type[ServiceError]] = InternalError
    field: ClassVar[str | None] = None


ERROR_CODES["http_error"] = 404  # Starlette's own errors: an unknown route (404) or a wrong method (405)


def parse_json_message(text: str | None, field: str = "message"):
    """``json.loads`` whose every failure is a ``malformed_json`` error: bad syntax, numbers over Python's digit
    limit (ValueError) and nesting deeper than the parser's recursion (RecursionError)."""
    try:
        return json.loads(text or "")
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        raise MalformedJsonError(field, f"not valid JSON: {str(e)[:200]}") from None
