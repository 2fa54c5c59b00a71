"""WebSocket /video/{session} through the ASGI app (Starlette's TestClient), state in the session's own Redis."""

from __future__ import annotations

import json

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from sam2refiner.service.video.protocol import MAX_SEQ
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
    """The state-bytes gauge as /metrics shows it for this app's sessions. The gauge is process-wide and the
    test process holds other apps (the session-wide ``api``) whose own timers set it too, so a scrape can show
    theirs: scrape until it shows this app's store, which the scrape refreshes it from."""
    held = client.app.state.video_sessions.store.held_bytes

    def scrape() -> float:
        text = client.get("/metrics").text
        lines = text.splitlines()
        (value,) = [line.split()[1] for line in lines if line.startswith("sam2refiner_video_state_bytes ")]
        return float(value)

    def this_apps() -> tuple[float] | None:  # a tuple: a value of 0 is an answer too
        value = scrape()
        return (value,) if value == held() else None

    (value,) = wait_until(this_apps, what="/metrics to show this app's state bytes")
    return value


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


def test_a_seq_gets_only_the_reply_of_the_message_it_numbered(client, video_clip):
    """N1: a resend is recognised by its seq and what it says; another message under an applied seq (another
    picture, a frame under a prompt's seq) is refused with seq_conflict, never answered with the kept reply."""
    _, pngs, click = video_clip
    with client.websocket_connect("/video/ws-conflict") as ws:
        start(ws)
        first = _frame(ws, 1, pngs[0])
        assert first["frame_idx"] == 0 and "duplicate" not in first
        assert _frame(ws, 1, pngs[1])["code"] == "seq_conflict"  # seq 1 again, with another picture
        again = _frame(ws, 1, pngs[0])  # the true resend
        assert again["duplicate"] is True and (again["frame_idx"], again["objects"]) == (0, first["objects"])
        prompt = {"type": "prompt", "seq": 2, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]}
        ws.send_json(prompt)
        masks = ws.receive_json()
        assert masks["type"] == "masks" and masks["seq"] == 2
        conflict = _frame(ws, 2, pngs[1])  # a frame under the prompt's seq
        assert (conflict["type"], conflict["code"], conflict["field"]) == ("error", "seq_conflict", "seq"), conflict
        ws.send_text(json.dumps(dict(reversed(prompt.items())), indent=1))  # the same prompt, spelt otherwise
        resent = ws.receive_json()
        assert resent["duplicate"] is True and resent["objects"] == masks["objects"]
        for other in (
            {**prompt, "objects": [{"obj_id": 1, "points": click, "labels": [0]}]},
            {"type": "reset", "seq": 2},
            {"type": "remove", "obj_id": 1, "seq": 2},
        ):
            ws.send_json(other)
            expect_error(ws, "seq_conflict", "seq")
    info = client.get("/video/ws-conflict").json()
    assert (info["frames_processed"], info["objects"], info["last_seq"]) == (1, [1], 2)  # nothing else applied


def test_a_refused_frame_header_and_its_frame_get_one_reply(client, video_clip):
    """N6: a frame header refused for its seq is answered once, and the binary frame after it is not applied as
    a frame of its own (it used to get a second reply); seq is bounded by protocol.MAX_SEQ."""
    _, pngs, _ = video_clip
    with client.websocket_connect("/video/ws-orphan") as ws:
        ws.send_json({"type": "frame", "seq": 1})  # before start: refused, and its frame with it
        ws.send_bytes(pngs[0])
        expect_error(ws, "invalid_field", "type")
        start(ws)
        assert send_frame(ws, pngs[0])["frame_idx"] == 0
        for bad in (-1, 1.5, True, "7", 2**63, MAX_SEQ + 1):
            ws.send_text(json.dumps({"type": "frame", "seq": bad}))
            ws.send_bytes(pngs[1])
            expect_error(ws, "invalid_field", "seq")
        # One reply each: the next thing on the socket is the reply to the next message.
        ws.send_json({"type": "reset", "seq": MAX_SEQ})
        assert ws.receive_json() == {"type": "reset", "seq": MAX_SEQ}
        assert _frame(ws, MAX_SEQ, pngs[1])["code"] == "seq_conflict"
        ws.send_json({"type": "reset", "seq": 5})
        expect_error(ws, "duplicate_frame", "seq")
        assert send_frame(ws, pngs[1])["frame_idx"] == 1  # messages without seq still go
    assert client.get("/video/ws-orphan").json()["frames_processed"] == 2


@pytest.mark.parametrize("damage", ["ver", "seq", "reply", "state_key_a_string"])
def test_damaged_stored_fields_answer_session_unreadable_and_close_needs_no_start(
    client, video_clip, video_prefix, redis_url, damage
):
    """N5: a stored field that does not parse is answered like a damaged blob, session_unreadable (delete the
    session), on the socket and on GET, never internal or a 500; close works without start and deletes it."""
    _, pngs, _ = video_clip
    name = f"ws-damaged-{damage.replace('_', '-')}"
    with client.websocket_connect(f"/video/{name}") as ws:
        start(ws)
        assert _frame(ws, 1, pngs[0])["frame_idx"] == 0
    key = f"{video_prefix}:video:{name}:state"
    with redis.Redis.from_url(redis_url) as r:
        if damage == "state_key_a_string":
            r.delete(key)
            r.set(key, "not a hash")
        else:
            r.hset(key, damage, {"ver": "x", "seq": "one", "reply": "{not json"}[damage])
    client.app.state.video_sessions.store._forget(name)  # read it as another worker would, not from this copy
    with client.websocket_connect(f"/video/{name}") as ws:
        if damage == "reply":  # read only when the message it answered is resent
            assert start(ws)["last_seq"] == 1
            refused = _frame(ws, 1, pngs[0])
        else:
            ws.send_json({"type": "start", "refine": False})
            refused = ws.receive_json()
        assert (refused["type"], refused["code"], refused["field"]) == ("error", "session_unreadable", "session")
        assert "delete the session" in refused["message"], refused
        if damage != "reply":
            r = client.get(f"/video/{name}")
            assert r.status_code == 422 and r.json()["error"]["code"] == "session_unreadable", r.text
    with client.websocket_connect(f"/video/{name}") as ws:
        ws.send_json({"type": "close"})
        assert ws.receive_json() == {"type": "closed", "session": name}
    assert client.get(f"/video/{name}").status_code == 404
    assert [k for k in keys_of(redis_url, video_prefix) if f":{name}:".encode() in k] == []
