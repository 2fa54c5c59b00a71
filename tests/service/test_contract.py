"""The API's contract in-process: one API key check (HTTP and WebSocket), closed docs, malformed JSON, and the one
error body (issue 9, defects 7 and 12)."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from sam2refiner.service.app import create_app
from sam2refiner.service.core.error_handlers import ErrorBody

from .conftest import png_b64

BOX = {"box": [40, 30, 120, 90]}
DEEP = "[" * 100_000 + "]" * 100_000
PNG = png_b64(np.full((16, 16, 3), 128, np.uint8))


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


# ---------------------------------------------------------------- the document says what is enforced (issue 21, 12)
def _validator(document: dict, component: str):
    """A JSON Schema (2020-12, as OpenAPI 3.1 has it) validator of one component of ``document``."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"#/components/schemas/{component}", "components": document["components"]})


def test_document_declares_bearer_auth_exactly_while_the_server_has_a_key(ws_client, service_settings):
    def security(document: dict) -> set:
        return {json.dumps(op.get("security")) for ops in document["paths"].values() for op in ops.values()}

    open_document = ws_client.get("/openapi.json").json()
    assert "securitySchemes" not in open_document.get("components", {}) and security(open_document) == {"null"}
    assert all("401" not in op["responses"] for ops in open_document["paths"].values() for op in ops.values())
    service_settings.api_key = SecretStr("s3cret")
    try:
        document = ws_client.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
    finally:
        service_settings.api_key = None
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["paths"]["/segment"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    "session", ["abc", "A-b_c.9", "a" * 128, "a" * 129, "ab c", "é", "abc\n", "protocol.json", "protocol.jsonx", ".a"]
)
def test_session_id_pattern_in_the_document_is_the_rule_the_server_applies(ws_client, session):
    (parameter,) = ws_client.get("/openapi.json").json()["paths"]["/video/{session}"]["get"]["parameters"]
    allowed = re.fullmatch(parameter["schema"]["pattern"].removeprefix("^").removesuffix("$"), session) is not None
    r = ws_client.get(f"/video/{quote(session, safe='')}")
    # Without a lifespan every id the server takes is answered not_ready; a refused one 422, or, for the
    # protocol document's own path, the document.
    assert (r.status_code == 503) is allowed, (session, r.status_code, r.text[:200])


BODIES = [  # image and image_id, with one valid object
    {"image": PNG},
    {"image_id": "img_1"},
    {"image": PNG, "image_id": None},
    {"image": None, "image_id": "img_1"},
    {"image": PNG, "image_id": "img_1"},
    {"image": None, "image_id": None},
    {},
]
OBJECTS = [  # the objects' prompts, sent with the image and by id
    [{"points": [[1, 2]], "labels": [1]}],
    [{"points": [[1, 2]]}],
    [{"labels": [1]}],
    [{"points": [[1, 2]], "labels": None}],
    [{"points": []}],
    [{}],
    [{"box": None, "mask_logits_id": None}],
    [{"mask_logits_id": "lg_1"}],
    [{"mask": {"size": [1, 1], "counts": [1]}, "mask_logits_id": "lg_1"}],
    [{"box": [1, 2, 3, 4]}] * 5,
    [{"points": [[1, 2]] * 9, "labels": [1] * 9}],
]
REQUESTS = [{**body, "objects": [{"box": [1, 2, 3, 4]}]} for body in BODIES] + [
    {**body, "objects": objects} for objects in OBJECTS for body in BODIES[:2]
]


@pytest.mark.parametrize("request_body", REQUESTS, ids=lambda r: json.dumps(r).replace(PNG, "png")[:60])
def test_segment_request_schema_accepts_what_the_server_takes(api, request_body):
    """Every request the document's schema refuses, the server refuses as invalid (422), and the other way
    round for the rules the schema states: exactly one of image and image_id, which prompts go together, the
    limits of objects and points. (What is left is content: a string that is no image, an unknown id.)"""
    request = {**request_body, "refine": False}
    valid = _validator(api.get("/openapi.json").json(), "SegmentRequest").is_valid(request)
    r = api.post("/segment", json=request)
    assert r.status_code in (200, 404, 422), r.text  # 404: the image_id is no image the server has
    assert (r.status_code == 422) is not valid, (request, r.status_code, r.text[:300])


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("OPTIONS", "/video/s1", "DELETE, GET"),  # two routes at one path (Starlette named the first: GET)
        ("PUT", "/video/s1", "DELETE, GET"),
        ("DELETE", "/video/protocol.json", "GET"),  # the protocol document's path is read-only, no session
        ("OPTIONS", "/video/protocol.json", "GET"),
        ("GET", "/segment", "POST"),
    ],
)
def test_405_lists_every_method_served_at_the_path(ws_client, method, path, allow):
    r = ws_client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert ErrorBody.model_validate(r.json()).error.code == "http_error"


def test_unparseable_multipart_body_is_422_invalid_field(ws_client):
    """Starlette answers it with a bare 400, which no route documents (schemathesis found it on POST /videos)."""
    r = ws_client.post(
        "/videos", content=b"--b0\r\nTrue--b0--\r\n", headers={"content-type": "multipart/form-data; boundary=b0"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_field" and r.json()["error"]["field"] == "body"
