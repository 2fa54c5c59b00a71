"""The API's contract in-process: one API key check (HTTP and WebSocket), closed docs, malformed JSON, and the one
error body (issue 9, defects 7 and 12)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from sam2refiner.service.app import create_app
from sam2refiner.service.core.error_handlers import ErrorBody

BOX = {"box": [40, 30, 120, 90]}
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def api_key(service_settings):
    service_settings.api_key = SecretStr("s3cret")
    yield "s3cret"
    service_settings.api_key = None
    service_settings.public_docs = False


@pytest.mark.parametrize(
    "body",
    [
        b'{"image_id": "x", "objects": [{"box": [' + b"1" * 5000 + b", 1, 2, 3]}]}",  # over Python's int digit limit
        b'{"image_id": "x", "objects": ' + DEEP.encode() + b"}",  # deeper than json's recursion
    ],
    ids=["5000_digit_integer", "deep_nesting"],
)
def test_unparseable_json_is_422_malformed_json(api, body):
    r = api.post("/segment", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "malformed_json" and r.json()["error"]["field"] == "body"
    ErrorBody.model_validate(r.json())


@pytest.mark.parametrize(
    "authorization, status",
    [
        ("Bearer s3cret", 200),
        ("bearer s3cret", 200),
        ("BEARER  s3cret ", 200),
        ("s3cret", 401),
        ("Basic s3cret", 401),
        ("Bearer s3cre", 401),
        ("Bearer ", 401),
        (None, 401),
    ],
)
def test_http_bearer_header_parsed_one_way(api, image_id, api_key, authorization, status):
    headers = {} if authorization is None else {"Authorization": authorization}
    r = api.post("/segment", json={"image_id": image_id, "objects": [BOX]}, headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.json()["error"] == {
            "code": "unauthorized",
            "field": "authorization",
            "message": r.json()["error"]["message"],
        }
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_need_the_key_unless_made_public(api, api_key, service_settings, path):
    assert api.get(path).status_code == 401
    assert api.get(path, headers={"Authorization": f"Bearer {api_key}"}).status_code == 200
    service_settings.public_docs = True
    assert api.get(path).status_code == 200


def test_probes_and_metrics_stay_open(api, api_key):
    for path in ("/healthz", "/readyz", "/metrics"):
        assert api.get(path).status_code == 200


def test_unknown_route_has_the_error_body(api):
    r = api.get("/nowhere")
    assert r.status_code == 404 and ErrorBody.model_validate(r.json()).error.code == "http_error"


@pytest.fixture(scope="module")
def ws_client(service_settings):
    """The app without its lifespan (no model): a socket past the key check is answered not_ready."""
    return TestClient(create_app(service_settings))


@pytest.mark.parametrize(
    "how, accepted",
    [
        ({"headers": {"Authorization": "Bearer s3cret"}}, True),
        ({"headers": {"Authorization": "bearer s3cret"}}, True),
        ({"query": "?api_key=s3cret"}, True),
        ({"headers": {"Authorization": "s3cret"}}, False),
        ({"query": "?api_key=wrong"}, False),
        ({}, False),
    ],
)
def test_websocket_uses_the_same_check(ws_client, api_key, how, accepted):
    url = "/video/auth-check" + how.get("query", "")
    if accepted:
        with ws_client.websocket_connect(url, headers=dict(how.get("headers", {}))) as ws:
            assert ws.receive_json()["code"] == "not_ready"
    else:
        with pytest.raises(WebSocketDisconnect) as e:
            with ws_client.websocket_connect(url, headers=dict(how.get("headers", {}))) as ws:
                ws.receive_json()
        assert e.value.code == 4401
