"""Fetching a task's image or video: Label Studio's own URLs (``/data/upload/...``, ``/data/local-files/?d=...``)
through its URL and token, plain http(s) URLs, and inline ``data:`` URLs; only from the allowed hosts, so the
backend cannot be made a proxy into the internal network.

    fetcher = TaskDataFetcher(settings)
    raw = await fetcher.fetch(url, "tasks.0.data.image", max_bytes)     # bytes, or a 4xx naming what failed
    await fetcher.fetch_to(url, field, max_bytes, file)                  # streamed into an open binary file

The hosts are ``SAM2REFINER_LABELSTUDIO_ALLOWED_HOSTS`` (default: Label Studio's host and loopback). Redirects
are followed by hand, each hop checked against them; the token goes to Label Studio's origin only. A fetch has
one deadline for all of it (``SAM2REFINER_LABELSTUDIO_FETCH_TIMEOUT_S``), proxies from the environment are not
used, and an unreachable host fails at once: every failure is a 422 naming the URL and why (413 for too large).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from ...core.errors import InvalidFieldError, PayloadTooLargeError
from ...core.settings import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_REDIRECTS = 3


class TaskDataFetcher:
    def __init__(self, settings: Settings):
        self.timeout_s = settings.labelstudio_fetch_timeout_s
        self.base = settings.labelstudio_url.rstrip("/") if settings.labelstudio_url else None
        self.token = settings.labelstudio_token.get_secret_value() if settings.labelstudio_token else None
        base_host = urlsplit(self.base).hostname if self.base else None
        configured = settings.labelstudio_allowed_hosts
        self.loopback_allowed = configured is None
        hosts = configured if configured is not None else [*LOOPBACK_NAMES, *([base_host] if base_host else [])]
        self.allowed = {h.strip().lower().strip("[]") for h in hosts}

    # ------------------------------------------------------------------ public
    async def fetch(self, url: str, field: str, max_bytes: int) -> bytes:
        if url.startswith("data:"):
            return _data_url(url, field, max_bytes)
        chunks: list[bytes] = []
        await self._get(url, field, max_bytes, chunks.append)
        return b"".join(chunks)

    async def fetch_to(self, url: str, field: str, max_bytes: int, file: BinaryIO) -> None:
        if url.startswith("data:"):
            file.write(_data_url(url, field, max_bytes))
            return
        await self._get(url, field, max_bytes, file.write)

    # ------------------------------------------------------------------ internals
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

    def check_host(self, url: str, field: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        if host in self.allowed or (self.loopback_allowed and _is_loopback(host)):
            return
        raise InvalidFieldError(
            field,
            f"{url[:200]!r}: host {host!r} is not one task data may be fetched from "
            f"(SAM2REFINER_LABELSTUDIO_ALLOWED_HOSTS: {', '.join(sorted(self.allowed))})",
        )

    def _headers(self, url: str) -> dict:
        if self.token and self.base and _origin(url) == _origin(self.base):
            return {"Authorization": f"Token {self.token}"}
        return {}

    async def _get(self, url: str, field: str, max_bytes: int, sink) -> None:
        target = self.absolute(url, field)
        try:
            await asyncio.wait_for(self._follow(target, field, max_bytes, sink), self.timeout_s)
        except asyncio.TimeoutError:
            raise InvalidFieldError(field, f"fetching {target[:200]!r} took over {self.timeout_s:g} s") from None
        except httpx.HTTPError as e:
            raise InvalidFieldError(field, f"could not fetch {target[:200]!r}: {_reason(e)}") from None

    async def _follow(self, url: str, field: str, max_bytes: int, sink) -> None:
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=self.timeout_s) as client:
            for _ in range(MAX_REDIRECTS + 1):
                self.check_host(url, field)
                async with client.stream("GET", url, headers=self._headers(url)) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    _check_status(response, url, field)
                    length = response.headers.get("content-length")
                    if length is not None and length.isdigit() and int(length) > max_bytes:
                        raise _too_large(url, field, max_bytes)
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise _too_large(url, field, max_bytes)
                        sink(chunk)
                    return
        raise InvalidFieldError(field, f"{url[:200]!r}: more than {MAX_REDIRECTS} redirects")


def _check_status(response: httpx.Response, url: str, field: str) -> None:
    if response.status_code < 400:
        return
    hint = ""
    if response.status_code in (401, 403):
        hint = ": is SAM2REFINER_LABELSTUDIO_TOKEN set to a valid Label Studio API token?"
    raise InvalidFieldError(field, f"could not fetch {url[:200]!r}: the server answered {response.status_code}{hint}")


def _too_large(url: str, field: str, max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(field, f"{url[:200]!r} is over the limit of {max_bytes} bytes")


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


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _reason(error: httpx.HTTPError) -> str:
    """What went wrong, in a few words: "connection refused", "name or service not known", ..."""
    cause = error.__cause__ or error.__context__ or error
    text = str(cause) or str(error) or type(error).__name__
    return text.splitlines()[0][:200]
