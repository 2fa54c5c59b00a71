"""WebSocket /video/{session} through the ASGI app (Starlette's TestClient), state in the session's own Redis."""

from __future__ import annotations

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from tests.model.video.helpers import clip
from tests.waiting import wait_until

from .video_helpers import assert_mask_matches, keys_of, png_bytes, video_settings


@pytest.fixture(scope="module")
def client(video_checkpoint, video_prefix, redis_url):
    app = create_app(video_settings(video_checkpoint, video_prefix, redis_url=redis_url))
    with TestClient(app) as c:
        yield c


def start(ws, **options):
    ws.send_json({"type": "start", "refine": False, **options})
    reply = ws.receive_json()
    assert reply["type"] == "started", reply
    return reply


def send_frame(ws, data: bytes) -> dict:
    ws.send_bytes(data)
    return ws.receive_json()


def expect_error(ws, code: str, field_prefix: str | None = None) -> dict:
    reply = ws.receive_json()
    assert reply["type"] == "error" and reply["code"] == code, reply
    assert reply["message"]
    if field_prefix is not None:
        assert (reply["field"] or "").startswith(field_prefix), reply
    return reply


def test_stream_equals_sam2_and_every_malformed_message_is_answered(client, video_clip, reference_masks):
    frames, pngs, click = video_clip
    with client.websocket_connect("/video/ws-main") as ws:
        started = start(ws)
        assert started["frame_idx"] == -1 and started["objects"] == [] and started["refine"] is False
        reply = send_frame(ws, pngs[0])
        assert reply["type"] == "frame" and reply["frame_idx"] == 0 and reply["objects"] == []
        ws.send_json({"type": "prompt", "frame_idx": 0, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        reply = ws.receive_json()
        assert reply["type"] == "masks" and [o["obj_id"] for o in reply["objects"]] == [1]
        assert_mask_matches(reply["objects"][0]["mask"], reference_masks[0], "frame 0 prompt")
        for t in range(1, len(frames)):
            if t == 3:
                ws.send_text("{not json")
                expect_error(ws, "malformed_json", "message")
                ws.send_json({"type": "teleport"})
                expect_error(ws, "invalid_field", "type")
                ws.send_json(
                    {"type": "prompt", "frame_idx": 7, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]}
                )
                expect_error(ws, "invalid_field", "frame_idx")
                ws.send_json(
                    {"type": "prompt", "frame_idx": 2, "objects": [{"obj_id": 1, "points": [[1e6, 5]], "labels": [1]}]}
                )
                expect_error(ws, "invalid_field", "objects")
                ws.send_bytes(b"this is not an image")
                expect_error(ws, "invalid_field", "frame")
                ws.send_bytes(pngs[0][:100] + bytes(700_000))
                expect_error(ws, "too_large", "frame")
                ws.send_bytes(png_bytes(np.zeros((64, 64, 3), np.uint8)))  # another size than the session's
                expect_error(ws, "invalid_field", "frame")
            reply = send_frame(ws, pngs[t])
            assert reply["type"] == "frame" and reply["frame_idx"] == t, reply
            (obj,) = reply["objects"]
            assert obj["obj_id"] == 1 and isinstance(obj["visible"], bool) and 0 <= obj["score"] <= 1.5
            assert {"encode", "memory_attention", "decode", "memory_encode", "state_load", "state_save"} <= set(
                reply["timings"]
            )
            assert_mask_matches(obj["mask"], reference_masks[t], f"frame {t}")
    info = client.get("/video/ws-main").json()
    assert (
        info["frames_processed"] == len(frames) and info["objects"] == [1] and info["bytes"] > 0 and info["ttl_s"] > 0
    )


def test_binary_before_start_and_reconnect_resumes(client, video_clip, reference_masks):
    _, pngs, click = video_clip
    with client.websocket_connect("/video/ws-resume") as ws:
        ws.send_bytes(pngs[0])
        expect_error(ws, "invalid_field", "frame")
        ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        expect_error(ws, "invalid_field", "type")
        start(ws, format="rle")
        send_frame(ws, pngs[0])
        ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        assert ws.receive_json()["type"] == "masks"
        send_frame(ws, pngs[1])
    with client.websocket_connect("/video/ws-resume") as ws:  # a new connection continues the stored session
        started = start(ws, refine=True)
        assert started["frame_idx"] == 1 and started["objects"] == [1] and started["refine"] is False
        reply = send_frame(ws, pngs[2])
        assert reply["frame_idx"] == 2
        assert_mask_matches(reply["objects"][0]["mask"], reference_masks[2], "frame 2 after reconnect")
        ws.send_json({"type": "remove", "obj_id": 5})
        expect_error(ws, "invalid_field", "obj_id")
        ws.send_json({"type": "remove", "obj_id": 1})
        assert ws.receive_json() == {"type": "removed", "obj_id": 1}
        assert send_frame(ws, pngs[3])["objects"] == []
        ws.send_json({"type": "close"})
        assert ws.receive_json()["type"] == "closed"
    assert client.get("/video/ws-resume").status_code == 404


def test_redis_unreachable_mid_session(client, video_clip, reference_masks, image_png_b64):
    _, pngs, click = video_clip
    sessions = client.app.state.video_sessions
    with client.websocket_connect("/video/ws-down") as ws:
        start(ws)
        send_frame(ws, pngs[0])
        ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        ws.receive_json()
        send_frame(ws, pngs[1])
        working = sessions.store.client
        sessions.store.client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
        try:
            send_frame_error = send_frame(ws, pngs[2])
            assert send_frame_error["type"] == "error" and send_frame_error["code"] == "state_store_unavailable"
            assert "unreachable" in send_frame_error["message"]
            assert client.get("/video/ws-down").status_code == 503
            r = client.post(
                "/segment", json={"image": image_png_b64, "objects": [{"points": [[20, 20]], "labels": [1]}]}
            )
            assert r.status_code == 200, r.text  # images do not need Redis
        finally:
            sessions.store.client = working
        reply = send_frame(ws, pngs[2])  # the same frame again: nothing was half-saved
        assert reply["frame_idx"] == 2
        assert_mask_matches(reply["objects"][0]["mask"], reference_masks[2], "frame 2 after Redis returned")


@pytest.mark.slow
def test_state_stops_growing_has_ttls_and_leaves_no_key(client, video_checkpoint, video_prefix, redis_url):
    frames, masks = clip(num_frames=60, seed=9)
    sizes = {}
    with client.websocket_connect("/video/ws-long") as ws:
        start(ws)
        for t, frame in enumerate(frames):
            assert send_frame(ws, png_bytes(frame))["frame_idx"] == t
            if t == 0:
                ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "box": [0, 0, 100, 100]}]})
                assert ws.receive_json()["type"] == "masks"
            if t + 1 in (20, 60):
                info = client.get("/video/ws-long").json()
                sizes[t + 1] = info["bytes"] - info["frame_bytes"]  # the PNG's size varies with the picture
    assert abs(sizes[60] - sizes[20]) <= 64, sizes  # only the width of frame numbers may differ
    r = redis.Redis.from_url(redis_url)
    keys = [k for k in keys_of(redis_url, video_prefix) if b":ws-long:" in k]
    assert keys and all(r.pttl(k) > 0 for k in keys)
    assert client.delete("/video/ws-long").status_code == 204
    assert [k for k in keys_of(redis_url, video_prefix) if b":ws-long:" in k] == []
    assert client.delete("/video/ws-long").status_code == 404
    # Expiry: a session left alone disappears with all its keys, and from the state-bytes gauge (defect 10).
    sessions = client.app.state.video_sessions
    ttl = sessions.store.ttl_s
    held_before = state_bytes_gauge(client)
    with client.websocket_connect("/video/ws-expire") as ws:
        start(ws)
        send_frame(ws, png_bytes(frames[0]))
        ws.send_json({"type": "prompt", "objects": [{"obj_id": 1, "box": [0, 0, 100, 100]}]})
        assert ws.receive_json()["type"] == "masks"
    held_during = state_bytes_gauge(client)
    sessions.store.ttl_s = 0.5
    try:
        assert client.get("/video/ws-expire").status_code == 200  # renews the TTL: 0.5 s from now
        wait_until(  # a loaded machine may take a while to get here
            lambda: not [k for k in keys_of(redis_url, video_prefix) if b":ws-expire:" in k],
            what="the session's keys to expire",
        )
        assert client.get("/video/ws-expire").status_code == 404
        assert state_bytes_gauge(client) == held_before < held_during
    finally:
        sessions.store.ttl_s = ttl


def state_bytes_gauge(client) -> float:
    text = client.get("/metrics").text
    (value,) = [line.split()[1] for line in text.splitlines() if line.startswith("sam2refiner_video_state_bytes ")]
    return float(value)


def _frame(ws, seq: int, data: bytes) -> dict:
    ws.send_json({"type": "frame", "seq": seq})
    ws.send_bytes(data)
    return ws.receive_json()


def test_a_resent_message_is_answered_from_the_store_not_applied_twice(client, video_clip, reference_masks):
    """Defect 3: a frame saved whose reply was lost; the resend gets that reply, and the next frame is t+1."""
    _, pngs, click = video_clip
    with client.websocket_connect("/video/ws-seq") as ws:
        assert start(ws)["last_seq"] is None
        assert _frame(ws, 1, pngs[0])["seq"] == 1
        ws.send_json({"type": "prompt", "seq": 2, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        assert ws.receive_json()["seq"] == 2
        first = _frame(ws, 3, pngs[1])  # its reply "never arrives": the client reconnects and sends it again
    with client.websocket_connect("/video/ws-seq") as ws:
        started = start(ws)
        assert (started["last_seq"], started["frame_idx"]) == (3, 1)
        again = _frame(ws, 3, pngs[1])
        assert again["duplicate"] is True and (again["frame_idx"], again["objects"]) == (1, first["objects"])
        ws.send_json({"type": "prompt", "seq": 2, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        expect_error(ws, "duplicate_frame", "seq")  # older than the last applied: its reply is not kept
        reply = _frame(ws, 4, pngs[2])
        assert reply["frame_idx"] == 2 and "duplicate" not in reply
        assert_mask_matches(reply["objects"][0]["mask"], reference_masks[2], "frame 2 after the resend")
        ws.send_json({"type": "frame", "seq": "x"})
        expect_error(ws, "invalid_field", "seq")
        ws.send_json({"type": "frame", "seq": 5})
        ws.send_json({"type": "reset", "seq": 5})  # a header not followed by its frame is refused, then this runs
        expect_error(ws, "invalid_field", "type")
        assert ws.receive_json() == {"type": "reset", "seq": 5}
    assert client.get("/video/ws-seq").json()["last_seq"] == 5


def test_session_ids_match_as_a_whole(client, video_prefix, redis_url):
    """Defect 11: "abc\n" is not a valid id (it used to create a key of its own)."""
    r = client.get("/video/abc%0A")
    assert r.status_code == 422 and r.json()["error"]["field"] == "session"
    with client.websocket_connect("/video/abc%0A") as ws:
        expect_error(ws, "invalid_field", "session")
    assert [k for k in keys_of(redis_url, video_prefix) if b"abc" in k] == []


@pytest.fixture(scope="module")
def image_png_b64():
    import base64

    rng = np.random.default_rng(1)
    return base64.b64encode(png_bytes(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))).decode()


def test_start_chooses_the_module_set_and_bad_sets_are_refused(client, video_clip):
    """A live stream can skip LA's five-image encoding and keep PR + MR; unknown modules or values are refused."""
    frames, pngs, click = video_clip
    with client.websocket_connect("/video/ws-modules") as ws:
        ws.send_json({"type": "start", "refine": {"la": True, "pr": "yes"}})
        expect_error(ws, "invalid_field", "refine.pr")
        ws.send_json({"type": "start", "refine": {"zoom": True}})
        expect_error(ws, "invalid_field", "refine.zoom")
        started = start(ws, refine={"pr": True, "mr": True})
        assert started["refine"] is True and started["modules"] == {"la": False, "pr": True, "mr": True}
        send_frame(ws, pngs[0])
        ws.send_json({"type": "prompt", "frame_idx": 0, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        assert ws.receive_json()["type"] == "masks"
        reply = send_frame(ws, pngs[1])
        assert reply["type"] == "frame" and "refine" in reply["timings"], reply
