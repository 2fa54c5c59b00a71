"""Fetching an http(s) URL for a client, only from an allow-list of hosts (so the service cannot be made a proxy
into the internal network), streamed under a size limit.

    fetcher = UrlFetcher(["media.example.org"], "SAM2REFINER_VIDEO_FILE_URL_HOSTS", 60.0, "video files")
    raw = await fetcher.fetch(url, "url", max_bytes)           # bytes, or a 4xx naming the URL and what failed
    await fetcher.fetch_to(url, "url", max_bytes, file.write)  # streamed into a sink

Redirects are followed by hand (at most ``MAX_REDIRECTS``), each hop checked against the hosts. A fetch has one
deadline for all of it (``timeout_s``: connecting, each read, and the whole body), proxies from the environment
are not used, and an unreachable host fails at once. Every failure is a 422 ``invalid_field`` naming the URL and
why (a host not allowed names the setting that allows it), or a 413 ``too_large`` as soon as the announced or
received size passes ``max_bytes`` (the rest is never read). Subclasses add headers (``headers``) and hints on a
refused status (``status_hint``): Label Studio's token (``integrations/labelstudio/fetch.py``).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import httpx

from .errors import InvalidFieldError, PayloadTooLargeError

MAX_REDIRECTS = 3


class UrlFetcher:
    def __init__(self, hosts: Iterable[str], setting: str, timeout_s: float, what: str, loopback: bool = False):
        """``hosts`` may be fetched from (``loopback``: also any loopback address); ``setting`` is the variable
        that lists them and ``what`` what is fetched, both for the messages."""
        self.allowed = {h.strip().lower().strip("[]") for h in hosts}
        self.setting, self.timeout_s, self.what, self.loopback = setting, timeout_s, what, loopback

    # ------------------------------------------------------------------ public
    async def fetch(self, url: str, field: str, max_bytes: int) -> bytes:
        chunks: list[bytes] = []
        await self.fetch_to(url, field, max_bytes, chunks.append)
        return b"".join(chunks)

    async def fetch_to(self, url: str, field: str, max_bytes: int, sink: Callable[[bytes], object]) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise InvalidFieldError(field, f"{url[:120]!r}: only http(s) URLs are fetched, not {scheme!r}")
        self.check_host(url, field)  # before anything is sent
        try:
            await asyncio.wait_for(self._follow(url, field, max_bytes, sink), self.timeout_s)
        except asyncio.TimeoutError:
            raise InvalidFieldError(field, f"fetching {url[:200]!r} took over {self.timeout_s:g} s") from None
        except httpx.HTTPError as e:
            raise InvalidFieldError(field, f"could not fetch {url[:200]!r}: {_reason(e)}") from None

    def check_host(self, url: str, field: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        if host in self.allowed or (self.loopback and _is_loopback(host)):
            return
        if not self.allowed and not self.loopback:
            raise InvalidFieldError(
                field, f"{self.what} are not fetched from URLs here: {self.setting} lists no host (asked: {host!r})"
            )
        raise InvalidFieldError(
            field,
            f"{url[:200]!r}: host {host!r} is not one {self.what} may be fetched from "
            f"({self.setting}: {', '.join(sorted(self.allowed)) or 'loopback only'})",
        )

    # ------------------------------------------------------------------ for subclasses
    def headers(self, url: str) -> dict:
        return {}

    def status_hint(self, status: int) -> str:
        return ""

    # ------------------------------------------------------------------ internals
    async def _follow(self, url: str, field: str, max_bytes: int, sink) -> None:
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=self.timeout_s) as client:
            for _ in range(MAX_REDIRECTS + 1):
                self.check_host(url, field)
                async with client.stream("GET", url, headers=self.headers(url)) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if not response.is_success:
                        raise InvalidFieldError(
                            field,
                            f"could not fetch {url[:200]!r}: the server answered {response.status_code}"
                            f"{self.status_hint(response.status_code)}",
                        )
                    length = response.headers.get("content-length")
                    if length is not None and length.isdigit() and int(length) > max_bytes:
                        raise _too_large(url, field, max_bytes)
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:  # leaving the block closes the connection: the rest is not read
                            raise _too_large(url, field, max_bytes)
                        sink(chunk)
                    return
        raise InvalidFieldError(field, f"{url[:200]!r}: more than {MAX_REDIRECTS} redirects")


def _too_large(url: str, field: str, max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(field, f"{url[:200]!r} is over the limit of {max_bytes} bytes")


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
