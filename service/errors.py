"""Domain errors and their HTTP form, in one place.

Every error a client can cause becomes a 4xx whose JSON body names the field at fault:

    {"error": {"code": "invalid_field", "field": "objects.0.box", "message": "x1 < x0 ..."}}

Plain exceptions only (no FastAPI, no torch): the Python client and the mask codecs import them too. The
FastAPI handlers that turn them into responses live in ``service.error_handlers``.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, field: str | None, message: str, headers: dict | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message, self.headers = field, message, headers or {}


class InvalidFieldError(ServiceError):
    status, code = 422, "invalid_field"


class UnknownIdError(ServiceError):
    """An image_id or logits id that this server never made, or has evicted: the client must resend."""

    status, code = 404, "unknown_id"


class PayloadTooLargeError(ServiceError):
    status, code = 413, "too_large"


class QueueFullError(ServiceError):
    status, code = 503, "queue_full"


class NotReadyError(ServiceError):
    status, code = 503, "not_ready"


class UnauthorizedError(ServiceError):
    status, code = 401, "unauthorized"


def error_body(code: str, field: str | None, message: str, **extra) -> dict:
    return {"error": {"code": code, "field": field, "message": message, **extra}}
