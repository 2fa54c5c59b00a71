"""Secrets out of the log (issue 21 items 7 and 8): records logged as uvicorn logs them, through uvicorn's own
formatters with the service's redaction filter on the handler. The access formatter unpacks ``record.args``, so
the filter must redact the arguments and keep them; a key the client percent-encoded is still the key the server
decodes, so it is redacted too."""

from __future__ import annotations

import io
import logging
from urllib.parse import unquote_plus

import pytest
from uvicorn.logging import AccessFormatter, DefaultFormatter

from sam2refiner.service.core.logging import RedactSecrets

KEY = "s3cret-key-42"


@pytest.fixture
def logged(capsys):
    """log(logger_name, template, *args) -> the line a uvicorn-formatted handler with the filter wrote; fails if
    logging itself failed ("--- Logging error ---" on stderr)."""
    loggers = []

    def log(name: str, template: str, *args) -> str:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(
            AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
            if name == "access"
            else DefaultFormatter("%(message)s")
        )
        handler.addFilter(RedactSecrets((KEY,)))
        logger = logging.getLogger(f"tests.redaction.{name}.{len(loggers)}")
        logger.propagate, logger.handlers = False, [handler]
        logger.setLevel(logging.INFO)
        loggers.append(logger)
        logger.info(template, *args)
        assert "Logging error" not in capsys.readouterr().err
        return stream.getvalue().rstrip("\n")

    yield log
    for logger in loggers:
        logger.handlers = []


ACCESS = '%s - "%s %s HTTP/%s" %d'  # uvicorn's h11 and httptools access line, with its arguments


@pytest.mark.parametrize("name", ["token", "api_key", "access_token", "API-KEY", "csrf_token"])
def test_access_line_of_an_open_route_with_a_secret_name_is_redacted_and_written(logged, name):
    line = logged("access", ACCESS, "127.0.0.1:5000", "GET", f"/healthz?{name}=abc&x=1", "1.1", 200)
    assert line == f'127.0.0.1:5000 - "GET /healthz?{name}=***&x=1 HTTP/1.1" 200 OK'


@pytest.mark.parametrize(
    "path, logged_path",
    [
        ("/video/s?api%5Fkey=%73%33cret-key-42", "/video/s?api%5Fkey=***"),  # name and value encoded
        ("/video/s?api%5fkey=other", "/video/s?api%5fkey=***"),  # a wrong key is a key all the same
        ("/video/s?x=1&k=s3cret%2Dkey%2D42", "/video/s?x=1&k=***"),  # the key under any name
        ("/v1/model/%73%33cret-key-42", "***"),  # outside a query: the whole word
    ],
)
def test_percent_encoded_key_is_redacted_as_the_server_decodes_it(logged, path, logged_path):
    line = logged("access", ACCESS, "127.0.0.1:5000", "GET", path, "1.1", 403)
    assert KEY not in unquote_plus(line) and f"GET {logged_path} HTTP/1.1" in line, line
    ws = logged("error", '%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", path)  # uvicorn's WebSocket line
    assert ws == f'127.0.0.1:5000 - "WebSocket {logged_path}" [accepted]'


def test_other_lines_keep_their_arguments_or_their_redacted_text(logged):
    assert logged("error", "plain %s, %d", "text", 3) == "plain text, 3"
    assert logged("error", "token=%s", "abc") == "token=***"  # the secret spans template and argument
    assert logged("error", "key %s in %s", KEY, "dict") == "key *** in dict"
    assert logged("error", "Authorization: Bearer %s", "tok") == "Authorization: Bearer ***"
    assert logged("error", "%(who)s sent %(key)s", {"who": "a", "key": KEY}) == "a sent ***"
