"""Without a Redis URL the sessions live in the process (one worker); refine on goes through the same path. Every
reply is checked against the protocol document the server serves."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from sam2refiner.service.app import create_app
from sam2refiner.service.video.store import InProcessStateStore

from .video_helpers import assert_mask_matches, video_settings


@pytest.mark.slow
def test_in_process_store_and_refined_tracking(video_checkpoint, video_clip, reference_masks):
    _, pngs, click = video_clip
    app = create_app(video_settings(video_checkpoint, "unused", redis_url=""))
    with TestClient(app) as client:
        document = client.get("/video/protocol.json").json()
        replies = Draft202012Validator({"$defs": document["$defs"], "$ref": "#/$defs/ServerMessage"})
        receive_json = _checked(replies)
        assert isinstance(
            app.state.video_sessions.store, InProcessStateStore
        )  # built in the lifespan, not on first use
        with client.websocket_connect("/video/plain") as ws:
            ws.send_json({"type": "start", "refine": False})
            assert receive_json(ws)["refine"] is False
            ws.send_bytes(pngs[0])
            receive_json(ws)
            ws.send_json({"type": "prompt", "frame_idx": 0, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
            assert_mask_matches(receive_json(ws)["objects"][0]["mask"], reference_masks[0], "frame 0")
            ws.send_bytes(pngs[1])
            assert_mask_matches(receive_json(ws)["objects"][0]["mask"], reference_masks[1], "frame 1")
        info = client.get("/video/plain").json()
        assert info["frames_processed"] == 2 and info["bytes"] > 0 and info["ttl_s"] > 0

        with client.websocket_connect("/video/refined") as ws:
            ws.send_json({"type": "start", "refine": True, "format": "polygons"})
            assert receive_json(ws)["refine"] is True
            ws.send_bytes(pngs[0])
            receive_json(ws)
            ws.send_json(
                {
                    "type": "prompt",
                    "objects": [{"obj_id": 4, "box": [10, 10, 200, 150], "points": click, "labels": [1]}],
                }
            )
            reply = receive_json(ws)
            assert reply["type"] == "masks" and isinstance(reply["objects"][0]["mask"], list)
            ws.send_bytes(pngs[1])
            reply = receive_json(ws)
            assert reply["frame_idx"] == 1 and "refine" in reply["timings"] and "memory_attention" in reply["timings"]
        metrics = client.get("/metrics").text
        for name in (
            "sam2refiner_video_stage_duration_seconds",
            "sam2refiner_video_frames_total",
            "sam2refiner_video_active_sessions",
            "sam2refiner_video_state_bytes",
        ):
            assert name in metrics
        assert client.delete("/video/refined").status_code == 204
        assert client.get("/video/refined").status_code == 404
        assert client.get("/video/bad%20id").status_code == 422


def _checked(validator):
    def receive_json(ws) -> dict:
        reply = ws.receive_json()
        validator.validate(reply)
        return reply

    return receive_json
