"""The video protocol's types: the served JSON Schema lists every message, the docs' message table names only
what the models have, and malformed messages are refused naming the field (no model, no Redis: fast)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from sam2refiner.service.core.errors import InvalidFieldError, PayloadTooLargeError
from sam2refiner.service.core.settings import Settings
from sam2refiner.service.video import protocol

DOCS = Path(__file__).resolve().parents[3] / "docs" / "video-protocol.md"


def _types(union) -> dict[str, type]:
    """type value -> model, for every member of a discriminated union."""
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in members}


CLIENT, SERVER = _types(protocol.ClientMessage), _types(protocol.ServerMessage)


@pytest.fixture(scope="module")
def client():
    # No lifespan (no model): the document and the id rule need none.
    yield TestClient(create_app(Settings(sam2_config="hiera_t", image_size=256, device="cpu")))


def test_the_served_document_lists_every_message_type(client):
    r = client.get("/video/protocol.json")
    assert r.status_code == 200
    document = r.json()
    defs = document["$defs"]
    for union, types in (("ClientMessage", CLIENT), ("ServerMessage", SERVER)):
        mapping = defs[union]["discriminator"]["mapping"]
        assert set(mapping) == set(types), union
        for kind, model in types.items():
            schema = defs[mapping[kind].rpartition("/")[2]]
            assert schema["title"] == model.__name__ and "type" in schema["required"]
            assert schema["properties"]["type"]["const"] == kind
    assert set(CLIENT) == {"start", "frame", "prompt", "remove", "reset", "close"}
    assert set(SERVER) == {"started", "frame", "masks", "removed", "reset", "closed", "error"}
    assert "/video/protocol.json" in client.get("/openapi.json").json()["paths"]
    # The document's path is not a session id: no session of that name can be made, read or deleted; the
    # document's resource is read-only (issue 21 item 12: it was a session id refused with 422).
    r = client.delete("/video/protocol.json")
    assert r.status_code == 405 and r.headers["allow"] == "GET" and r.json()["error"]["code"] == "http_error"


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _keys(span: str) -> set[str]:
    """The JSON keys a span names: quoted words after "{" or "," (values follow ": ")."""
    return set(re.findall(r'[{,]\s*"([a-z_]+)"', span))


def _fields(model) -> set[str]:
    """The model's fields and those of every model nested in it."""
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for inner in _nested(info.annotation):
            names |= _fields(inner)
    return names


def _nested(annotation):
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _nested(arg)


def test_the_docs_message_table_names_only_what_the_models_have():
    text = DOCS.read_text()
    table = re.search(r"<!-- table:video-messages -->\n(.*?)<!-- /table:video-messages -->", text, re.S).group(1)
    named = {"client": set(), "server": set()}
    for row in table.splitlines()[2:]:
        cells = row.strip().strip("|").split(" | ")
        for side, cell, types in (("client", cells[0], CLIENT), ("server", cells[1], SERVER)):
            found = re.search(r'"type": "([a-z_]+)"', cell)
            if found is None:
                continue
            model = types[found.group(1)]  # a KeyError here: the docs name a message the protocol lacks
            named[side].add(found.group(1))
            keys = set().union(*map(_keys, _code_spans(cell)))
            assert keys <= _fields(model) | {"type"}, f"{model.__name__}: {keys - _fields(model)} in the docs"
    assert named["client"] == set(CLIENT)
    assert named["server"] == set(SERVER) - {"error"}  # the error message has a section of its own
    (error,) = [s for s in _code_spans(text) if '"type": "error"' in s]
    assert _keys(error) <= _fields(protocol.ErrorMessage)


@pytest.mark.parametrize(
    "message, field",
    [
        ({"type": "teleport"}, "type"),
        ({"seq": 1}, "type"),
        ({"type": "start", "refine": {"la": True, "pr": "yes"}}, "refine.pr"),
        ({"type": "start", "refine": {"zoom": True}}, "refine.zoom"),
        ({"type": "start", "refine": "on"}, "refine"),
        ({"type": "start", "format": "jpeg"}, "format"),
        ({"type": "start", "colour": "red"}, "colour"),
        ({"type": "frame"}, "seq"),
        ({"type": "frame", "seq": -1}, "seq"),
        ({"type": "frame", "seq": 1.0}, "seq"),
        ({"type": "frame", "seq": True}, "seq"),
        ({"type": "frame", "seq": 2**63}, "seq"),
        ({"type": "frame", "seq": 2**53}, "seq"),  # over protocol.MAX_SEQ: a JavaScript number is exact below it
        ({"type": "prompt", "objects": []}, "objects"),
        ({"type": "prompt", "frame_idx": True, "objects": [{"obj_id": 1, "box": [1, 1, 5, 5]}]}, "frame_idx"),
        ({"type": "prompt", "objects": [{"box": [1, 1, 5, 5]}]}, "objects.0.obj_id"),
        ({"type": "prompt", "objects": [{"obj_id": 1, "boxx": [1, 1, 5, 5]}]}, "objects.0.boxx"),
        ({"type": "prompt", "objects": [{"obj_id": 1, "points": "x"}]}, "objects.0.points"),
        ({"type": "prompt", "objects": [{"obj_id": 1, "box": [0, 0, 5, 5]}, {"obj_id": 1}]}, "objects.1.obj_id"),
        ({"type": "remove", "obj_id": "1"}, "obj_id"),
    ],
)
def test_a_malformed_message_is_refused_naming_its_field(message, field):
    import json

    with pytest.raises(InvalidFieldError) as refused:
        protocol.parse_message(json.dumps(message), 10_000)
    assert refused.value.field == field, refused.value.message
    assert refused.value.message


def test_messages_parse_to_their_types_and_replies_leave_out_what_does_not_apply():
    start = protocol.parse_message('{"type": "start", "refine": {"pr": true}}', 1000)
    assert isinstance(start, protocol.Start) and start.requested_refine() == {"la": False, "pr": True, "mr": False}
    assert protocol.parse_message('{"type": "start"}', 1000).requested_refine() is None
    assert protocol.parse_message('{"type": "frame", "seq": 9007199254740991}', 1000).seq == protocol.MAX_SEQ
    with pytest.raises(PayloadTooLargeError):
        protocol.parse_message('{"type": "reset"}', 10)
    with pytest.raises(InvalidFieldError) as refused:
        protocol.parse_message("[1, 2]", 1000)
    assert refused.value.field == "message"
    assert protocol.wire(protocol.Removed(obj_id=1)) == '{"type":"removed","obj_id":1}'
    assert protocol.wire(protocol.ResetDone(seq=5)) == '{"type":"reset","seq":5}'
