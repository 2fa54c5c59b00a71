"""ASGI middleware: the API key check, a request body size limit, and request count/latency metrics per route."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from urllib.parse import parse_qs

from . import metrics
from .error_handlers import ErrorBody

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapers carry no key
# Label Studio connects ML backends with basic auth only: there the key may come as the password (any user name).
BASIC_AUTH_PREFIX = "/labelstudio/"
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def is_web_app(path: str) -> bool:
    """The page and its static files hold no data: they load without the key, then ask the person for it."""
    return path == "/" or path.startswith("/web/")


async def send_error(send, status: int, code: str, field: str | None, message: str, headers=()) -> None:
    payload = json.dumps(ErrorBody.of(code, field, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (the scheme in any case, as RFC 7235 says), else None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return (token.strip() or None) if scheme.lower() == "bearer" else None
    return None


def basic_password(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The password of ``Authorization: Basic base64(user:password)``, else None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, encoded = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return decoded.partition(":")[2] or None
    return None


def _digest(text: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison's time independent of the key's length too.
    return hashlib.sha256(text.encode()).digest()


class ApiKeyAuth:
    """The one API key check, for HTTP and WebSocket alike, in front of everything but probes and metrics.

    The key comes as ``Authorization: Bearer <key>`` (under ``/labelstudio/`` also as a basic-auth password); a WebSocket may also send ``?api_key=<key>`` (browsers
    cannot set headers on a WebSocket). ``settings.api_key`` is read per request: unset lets everything through.
    The API docs (/docs, /redoc, /openapi.json) need the key too unless ``settings.public_docs``.
    """

    def __init__(self, app, settings):
        self.app, self.settings = app, settings

    def _allowed(self, scope) -> bool:
        key = self.settings.api_key
        path = scope.get("path", "")
        if key is None or path in OPEN_PATHS or is_web_app(path) or (self.settings.public_docs and path in DOCS_PATHS):
            return True
        if scope["type"] == "http" and scope.get("method") == "OPTIONS":
            return True  # CORS preflights carry no credentials
        given = bearer_token(scope.get("headers") or [])
        if given is None and path.startswith(BASIC_AUTH_PREFIX):
            given = basic_password(scope.get("headers") or [])
        if given is None and scope["type"] == "websocket":
            given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key") or [None])[0]
        return given is not None and secrets.compare_digest(_digest(given), _digest(key.get_secret_value()))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "http":
            return await send_error(
                send,
                401,
                "unauthorized",
                "authorization",
                "missing or wrong bearer API key",
                [(b"www-authenticate", b"Bearer")],
            )
        await receive()  # websocket.connect; refusing the handshake answers it with 403
        await send({"type": "websocket.close", "code": 4401, "reason": "missing or wrong API key"})


class BodySizeLimit:
    """Answers 413 when a body is over ``max_bytes``: from Content-Length at once, or while it streams in."""

    def __init__(self, app, max_bytes: int, larger: dict[str, int] | None = None):
        """``larger``: a path (exactly) whose bodies may be larger, and their limit (video uploads)."""
        self.app, self.max_bytes, self.larger = app, max_bytes, larger or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self.larger.get(scope.get("path", ""), self.max_bytes)
        message = f"request body is over the limit of {max_bytes} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            return await send_error(send, 413, "too_large", "body", message)
        # Bodies without a trustworthy length are read here, counted, and replayed to the app.
        chunks, size = [], 0
        while True:
            received = await receive()
            if received["type"] == "http.disconnect":
                return
            chunk = received.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                return await send_error(send, 413, "too_large", "body", message)
            chunks.append(chunk)
            if not received.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class RequestMetrics:
    """sam2refiner_requests_total{route,method,status} and _request_duration_seconds, by route template."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            metrics.REQUESTS.labels(path, method, str(status)).inc()
            metrics.REQUEST_SECONDS.labels(path, method).observe(time.perf_counter() - start)
