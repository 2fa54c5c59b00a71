"""The service's logging: one format, and secrets kept out of every log line (API keys in query strings
(``?api_key=...``), bearer tokens, and the configured key itself wherever it appears: uvicorn logs request paths
with their query string).

The redaction filter sits on the handlers, so records that propagate from any logger pass through it.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    re.compile(r"(?i)((?:api_key|api-key|apikey|access_token|token)=)[^&\s\"']+"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
)
MASK = "***"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "sam2refiner")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: tuple[str, ...] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install(secret: str | None = None) -> None:
    """Puts one ``RedactSecrets`` on every handler of the root, uvicorn and service loggers (idempotent)."""
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            handler.filters = [f for f in handler.filters if not isinstance(f, RedactSecrets)]
            handler.addFilter(RedactSecrets((secret,) if secret else ()))


def configure(settings, *, only_if_unset: bool = False) -> None:
    """The root logger at ``settings.log_level`` in the service's format (left as it is with ``only_if_unset`` when
    it has a handler already), and the redaction of ``settings.api_key`` on every handler."""
    if not (only_if_unset and logging.getLogger().handlers):
        logging.basicConfig(level=settings.log_level.upper(), format=FORMAT)
    install(settings.api_key.get_secret_value() if settings.api_key else None)
