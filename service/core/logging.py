"""The service's logging: one format, and secrets kept out of every log line (API keys in query strings
(``?api_key=...``, also percent-encoded as ``?api%5Fkey=%73...``: the server decodes the query before it reads it),
bearer tokens, and the configured key itself wherever it appears: uvicorn logs request paths with their query
string, as the client sent it).

The redaction filter sits on the handlers, so records that propagate from any logger pass through it. It redacts
a record's arguments one by one and keeps them arguments: uvicorn's access formatter unpacks ``record.args``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote_plus

SECRET_NAMES = ("api_key", "api-key", "apikey", "access_token", "token")  # and names ending so (csrf_token)
# name=value as a query string has it: the name and value as sent (percent-encoded), decoded before they are judged.
_QUERY_PAIR = re.compile(r"([^\s?&=\"']+)=([^&\s\"']*)")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")
MASK = "***"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "sam2refiner")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: tuple[str, ...] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def _secret_in(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)

    def _pair(self, match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if unquote_plus(name).lower().endswith(SECRET_NAMES) or self._secret_in(unquote_plus(value)):
            return f"{name}={MASK}"
        return match.group(0)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _QUERY_PAIR.sub(self._pair, text)
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        if self.secrets and self._secret_in(unquote_plus(text)):  # encoded outside a query: the whole word goes
            text = " ".join(MASK if self._secret_in(unquote_plus(word)) else word for word in text.split(" "))
        return text

    def _redact_arg(self, arg):
        text = arg if isinstance(arg, str) else str(arg)
        clean = self.redact(text)
        return arg if clean == text else clean  # numbers stay numbers (uvicorn formats its status code as one)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean == message:
            return True
        msg, args = record.msg, record.args
        if isinstance(args, Mapping):
            record.args = {k: self._redact_arg(v) for k, v in args.items()}
        elif isinstance(args, tuple):
            record.args = tuple(self._redact_arg(a) for a in args)
        if isinstance(msg, str):
            record.msg = self.redact(msg)
        try:
            redacted = record.getMessage()
        except (TypeError, ValueError):  # the redaction took a placeholder of the template with it
            redacted = None
        if redacted is None or self.redact(redacted) != redacted:
            # The secret is in the template and its arguments together ("token=%s"): the line, redacted whole,
            # becomes the one argument of a plain template, so formatters that read arguments still find some.
            record.msg, record.args = "%s", (clean,)
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
