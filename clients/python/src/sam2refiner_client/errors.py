"""The service's error answers as exceptions, by what the caller can do about them.

The service answers every error with one JSON object ``{"code", "field", "message"}``: on HTTP as the body
``{"error": {...}}``, on the WebSocket as a message ``{"type": "error", "error": {...}}``. ``error_from_body``
turns either into the exception of its kind; its ``code``, ``field`` and ``message`` are the server's and
``status`` is the HTTP status (None on the WebSocket).
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error answer of the service; ``field`` names the request field it blamed (None when none)."""

    def __init__(self, code: str | None, field: str | None, message: str, status: int | None = None):
        where = " ".join(str(part) for part in (status and f"HTTP {status}", code, field) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.code, self.field, self.message, self.status = code, field, message, status


class BadRequestError(ServiceError):
    """The request is wrong and sending it again will not help: fix what ``field`` names."""


class AuthenticationError(ServiceError):
    """A missing or wrong API key."""


class UnknownIdError(ServiceError):
    """An image, logits or session id that the server never made or has dropped: send the image (or start) again.
    The HTTP clients resend a dropped image by themselves."""


class RetryableError(ServiceError):
    """The server cannot take the request now (busy, warming up, draining, its store down): the same request may
    succeed later."""


class InternalServerError(ServiceError):
    """A fault of the server (its details are in the server's log), or a 5xx from something in front of it."""


class SeqConflictError(ServiceError):
    """Another client is sending to the same video session under the same numbers (two tabs, or a restarted
    client whose old one still runs): the server applied another message under this message's ``seq`` (code
    ``seq_conflict``, from the server or from ``VideoSession``, which also raises it when a first send is answered
    as a duplicate). This client's message was not applied; stop one of the two clients."""


class SessionLostError(ServiceError):
    """Raised by ``VideoSession`` (not sent by the server): on reconnecting, the session no longer holds what the
    server had acknowledged (it expired, was deleted, or its store lost it)."""


# Every code the service sends (tests/client check this against the server's list).
KIND_OF_CODE: dict[str, type[ServiceError]] = {
    "bad_request": BadRequestError,
    "invalid_field": BadRequestError,
    "malformed_json": BadRequestError,
    "too_large": BadRequestError,
    "refiner_not_loaded": BadRequestError,
    "duplicate_frame": BadRequestError,
    "seq_conflict": SeqConflictError,
    "session_unreadable": BadRequestError,
    "unreadable_video": BadRequestError,
    "video_over_limits": BadRequestError,
    "session_full": BadRequestError,
    "http_error": BadRequestError,
    "unauthorized": AuthenticationError,
    "unknown_id": UnknownIdError,
    "queue_full": RetryableError,
    "not_ready": RetryableError,
    "decoder_unavailable": RetryableError,
    "draining": RetryableError,
    "state_store_unavailable": RetryableError,
    "session_busy": RetryableError,
    "stale_state": RetryableError,
    "internal": InternalServerError,
}


def _kind_of_status(status: int | None) -> type[ServiceError]:
    """For answers without a known code (a proxy's page, a newer server's code)."""
    if status is None:
        return ServiceError
    if status == 401:
        return AuthenticationError
    if status in (502, 503, 504):
        return RetryableError
    if status >= 500:
        return InternalServerError
    return BadRequestError


def error_from_body(body: object, status: int | None = None) -> ServiceError:
    """``{"error": {"code", "field", "message"}}``, a WebSocket error message, or the error object itself -> the
    exception of its kind. Anything else (a proxy's HTML page) becomes one by ``status`` with the text as message."""
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = body if isinstance(body, str) else repr(body)
        return _kind_of_status(status)(None, None, text[:500], status)
    code = error.get("code")
    kind = KIND_OF_CODE.get(code) or _kind_of_status(status)
    return kind(code, error.get("field"), str(error.get("message", "")), status)
