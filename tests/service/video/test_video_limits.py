"""The WebSocket's input contract: the same prompt limits and error as /segment, a cap on objects per session,
malformed JSON, short RLE masks and oversized text messages all answered with an error on a socket that stays
open (issue 9, defects 4, 5, 7 and 13), every error message in the one error model."""

from __future__ import annotations

import base64
import struct
import threading
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from sam2refiner.service.core.masks import encode_rle
from sam2refiner.service.video import protocol
from sam2refiner.service.video.protocol import ErrorMessage
from tests.model.video.helpers import clip
from tests.waiting import wait_until

from .video_helpers import png_bytes, video_settings

LIMITS = dict(max_objects=3, max_points=4, video_max_objects=2, max_body_bytes=1 << 20)


@pytest.fixture(scope="module")
def client(video_checkpoint):
    app = create_app(video_settings(video_checkpoint, "unused", redis_url="", **LIMITS))  # in-process store
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def frame():
    frames, _ = clip(num_frames=1, seed=3)
    return frames[0], png_bytes(frames[0])


def _error(ws) -> dict:
    reply = ws.receive_json()
    assert reply["type"] == "error", reply
    ErrorMessage.model_validate(reply)
    assert reply["error"] == {"code": reply["code"], "field": reply["field"], "message": reply["message"]}
    return reply


def _alive(ws) -> None:
    ws.send_json({"type": "reset"})
    assert ws.receive_json() == {"type": "reset"}


def _segment_error(client, objects) -> dict:
    """/segment's answer to the same objects (limits are checked before the image is decoded)."""
    r = client.post("/segment", json={"image_id": "img_0", "objects": objects})
    assert r.status_code == 422, r.text
    return r.json()["error"]


def test_prompt_limits_are_those_of_segment(client, frame):
    pixels, png = frame
    click = {"points": [[10, 10]] * 5, "labels": [1] * 5}  # one over max_points
    many = [{"box": [1, 1, 20, 20]}] * 4  # one over max_objects
    with client.websocket_connect("/video/limits") as ws:
        ws.send_json({"type": "start", "refine": False})
        ws.receive_json()
        ws.send_bytes(png)
        assert ws.receive_json()["type"] == "frame"
        for objects in ([{"obj_id": 1, **click}], [{"obj_id": i, "box": [1, 1, 20, 20]} for i in range(4)]):
            ws.send_json({"type": "prompt", "objects": objects})
            reply = _error(ws)
            expected = _segment_error(client, [{k: v for k, v in o.items() if k != "obj_id"} for o in objects])
            assert {k: reply[k] for k in ("code", "field", "message")} == expected
        assert _segment_error(client, many)["field"] == "objects"

        # A cap per session: two objects tracked, a third refused; a correction of a tracked one still goes.
        ws.send_json(
            {"type": "prompt", "objects": [{"obj_id": 1, "box": [5, 5, 40, 40]}, {"obj_id": 2, "box": [50, 5, 90, 40]}]}
        )
        assert ws.receive_json()["type"] == "masks"
        ws.send_json({"type": "prompt", "objects": [{"obj_id": 3, "box": [5, 5, 40, 40]}]})
        reply = _error(ws)
        assert reply["code"] == "invalid_field" and reply["field"] == "objects" and "per session" in reply["message"]
        ws.send_json({"type": "prompt", "objects": [{"obj_id": 2, "points": [[60, 20]], "labels": [1]}]})
        assert ws.receive_json()["type"] == "masks"

        # Checked against the frame by the same layer as /segment: a box that misses the frame, a reversed box.
        h, w = pixels.shape[:2]
        for box, needle in (([w + 1, 0, w + 5, 10], "does not overlap"), ([30, 5, 10, 20], "x1 < x0")):
            ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "box": box}]})
            reply = _error(ws)
            assert reply["field"] == "objects.0.box" and needle in reply["message"], reply


def test_malformed_input_is_answered_and_the_socket_stays(client, frame):
    pixels, png = frame
    h, w = pixels.shape[:2]
    short_rle = encode_rle(np.ones((10, 10), bool))
    with client.websocket_connect("/video/malformed") as ws:
        ws.send_json({"type": "start", "refine": False})
        ws.receive_json()
        ws.send_bytes(png)
        ws.receive_json()
        for text, code, field in (
            ('{"type": "prompt", "frame_idx": ' + "9" * 5000 + "}", "malformed_json", "message"),
            ('{"type": "prompt", "objects": ' + "[" * 100_000 + "]" * 100_000 + "}", "malformed_json", "message"),
            ('{"type": "reset", "pad": "' + "x" * (1 << 20) + '"}', "too_large", "message"),
        ):
            ws.send_text(text)
            reply = _error(ws)
            assert (reply["code"], reply["field"]) == (code, field), reply
            _alive(ws)
        ws.send_json(
            {"type": "prompt", "objects": [{"obj_id": 1, "mask": {"size": [h, w], "counts": short_rle["counts"]}}]}
        )
        reply = _error(ws)
        assert reply["code"] == "invalid_field" and reply["field"].startswith("objects.0.mask"), reply
        _alive(ws)


def _png_header_only(height: int, width: int) -> str:
    """A PNG that declares height x width (8-bit grey) in its header, with the first rows' pixels only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(4 * (width + 1)))
    return base64.b64encode(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    ).decode()


def test_a_mask_prompt_is_refused_by_its_declared_size_before_any_decoding(client, frame, monkeypatch):
    """N4: an RLE declaring 20000 x 20000 in 100 bytes (or a PNG header saying so) used to be decoded at that size
    on the device worker before the size check; now the declared size is checked first, as /segment does, and
    no decoder and no device job runs for it."""
    pixels, png = frame
    h, w = pixels.shape[:2]
    decoded, jobs = [], []
    real_decode = protocol.decode_mask
    monkeypatch.setattr(protocol, "decode_mask", lambda *a: decoded.append(a[1]) or real_decode(*a))
    worker = client.app.state.runtime.worker
    real_submit = worker.submit
    monkeypatch.setattr(worker, "submit", lambda fn, **kw: jobs.append(fn) or real_submit(fn, **kw))
    huge_rle = {"size": [20000, 20000], "counts": [20000 * 20000]}
    for fmt, mask, field in (
        ("rle", huge_rle, "objects.0.mask.size"),
        ("png", _png_header_only(20000, 20000), "objects.0.mask"),
    ):
        with client.websocket_connect(f"/video/huge-{fmt}") as ws:
            ws.send_json({"type": "start", "refine": False, "format": fmt})
            ws.receive_json()
            ws.send_bytes(png)
            assert ws.receive_json()["type"] == "frame"
            jobs.clear()
            ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "mask": mask}]})
            reply = _error(ws)
            assert (reply["code"], reply["field"]) == ("invalid_field", field), reply
            assert f"[{h}, {w}]" in reply["message"] and "20000" in reply["message"], reply
            assert decoded == [] and jobs == [], (decoded, jobs)  # refused before any decoding, off the worker
            _alive(ws)
    # /segment refuses the same RLE with the same error (its image is the frame).
    image = base64.b64encode(png).decode()
    r = client.post("/segment", json={"image": image, "objects": [{"mask": huge_rle}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "objects.0.mask.size", r.text


def test_mask_prompts_are_decoded_off_the_device_worker(client, frame, monkeypatch):
    """N4: while a WebSocket mask prompt is being decoded (held here until /segment has answered), a /segment
    request is served: the decoding does not hold the device worker."""
    pixels, png = frame
    h, w = pixels.shape[:2]
    release, decoding, threads = threading.Event(), threading.Event(), []
    real_decode = protocol.decode_mask

    def held_decode(*args):
        threads.append(threading.current_thread().name)
        decoding.set()
        assert release.wait(300), "the test never released the decoding"
        return real_decode(*args)

    monkeypatch.setattr(protocol, "decode_mask", held_decode)
    mask = np.zeros((h, w), bool)
    mask[10:40, 20:60] = True
    answers = []
    body = {"image": base64.b64encode(png).decode(), "objects": [{"box": [5, 5, 60, 50]}], "refine": False}
    with client.websocket_connect("/video/mask-decoding") as ws:
        ws.send_json({"type": "start", "refine": False})
        ws.receive_json()
        ws.send_bytes(png)
        ws.receive_json()
        ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "mask": encode_rle(mask)}]})
        segment = threading.Thread(target=lambda: answers.append(client.post("/segment", json=body)), daemon=True)
        try:
            wait_until(decoding.is_set, 120, "the mask prompt's decoding to start")
            segment.start()
            wait_until(lambda: answers, 120, "/segment to be answered while the mask prompt is being decoded")
            assert not release.is_set() and answers[0].status_code == 200, answers[0].text
        finally:
            release.set()
            if segment.is_alive():  # nothing left in flight for the app's shutdown, whatever failed above
                wait_until(lambda: not segment.is_alive(), 300, "/segment to be answered")
        reply = ws.receive_json()
        assert reply["type"] == "masks" and reply["objects"][0]["obj_id"] == 1, reply
    assert threads and not any(name.startswith("device-worker") for name in threads), threads
