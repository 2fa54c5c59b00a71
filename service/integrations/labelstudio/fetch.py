"""Fetching a task's image or video: Label Studio's own URLs (``/data/upload/...``, ``/data/local-files/?d=...``)
through its URL and token, plain http(s) URLs, and inline ``data:`` URLs; only from the allowed hosts, so the
backend cannot be made a proxy into the internal network.

    fetcher = TaskDataFetcher(settings)
    raw = await fetcher.fetch(url, "tasks.0.data.image", max_bytes)     # bytes, or a 4xx naming what failed
    await fetcher.fetch_to(url, field, max_bytes, file.write)           # streamed into a sink

The hosts are ``SAM2REFINER_LABELSTUDIO_ALLOWED_HOSTS`` (default: Label Studio's host and loopback); the token
goes to Label Studio's origin only. The fetch itself (redirects checked hop by hop, one deadline,
``SAM2REFINER_LABELSTUDIO_FETCH_TIMEOUT_S``, the size limit, the errors) is ``core/url_fetch.py``'s.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from urllib.parse import urlsplit

from ...core.errors import InvalidFieldError, PayloadTooLargeError
from ...core.settings import Settings
from ...core.url_fetch import UrlFetcher

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class TaskDataFetcher(UrlFetcher):
    def __init__(self, settings: Settings):
        self.base = settings.labelstudio_url.rstrip("/") if settings.labelstudio_url else None
        self.token = settings.labelstudio_token.get_secret_value() if settings.labelstudio_token else None
        base_host = urlsplit(self.base).hostname if self.base else None
        configured = settings.labelstudio_allowed_hosts
        hosts = configured if configured is not None else [*LOOPBACK_NAMES, *([base_host] if base_host else [])]
        super().__init__(
            hosts,
            "SAM2REFINER_LABELSTUDIO_ALLOWED_HOSTS",
            settings.labelstudio_fetch_timeout_s,
            "task data",
            loopback=configured is None,
        )

    async def fetch_to(self, url: str, field: str, max_bytes: int, sink: Callable[[bytes], object]) -> None:
        if url.startswith("data:"):
            sink(_data_url(url, field, max_bytes))
            return
        await super().fetch_to(self.absolute(url, field), field, max_bytes, sink)

    def absolute(self, url: str, field: str) -> str:
        """A task's URL made absolute: Label Studio's own paths are joined to its URL."""
        if url.startswith("/"):
            if self.base is None:
                raise InvalidFieldError(
                    field,
                    f"{url!r} is a Label Studio path, but the service does not know Label Studio's URL: set "
                    "SAM2REFINER_LABELSTUDIO_URL (and SAM2REFINER_LABELSTUDIO_TOKEN)",
                )
            return self.base + url
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise InvalidFieldError(
                field, f"{url[:120]!r}: only http(s), data: and Label Studio's own URLs are fetched, not {scheme!r}"
            )
        return url

    def headers(self, url: str) -> dict:
        if self.token and self.base and _origin(url) == _origin(self.base):
            return {"Authorization": f"Token {self.token}"}
        return {}

    def status_hint(self, status: int) -> str:
        if status in (401, 403):
            return ": is SAM2REFINER_LABELSTUDIO_TOKEN set to a valid Label Studio API token?"
        return ""


def _data_url(url: str, field: str, max_bytes: int) -> bytes:
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise InvalidFieldError(field, "a data: URL must be base64 (data:image/png;base64,...)")
    if len(payload) * 3 // 4 > max_bytes:
        raise PayloadTooLargeError(field, f"the data: URL is over the limit of {max_bytes} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidFieldError(field, f"the data: URL is not valid base64: {e}") from None


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
