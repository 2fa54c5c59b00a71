"""Without a Redis URL the sessions live in the process (one worker); refine on goes through the same path."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from sam2refiner.service.video.store import InProcessStateStore

from .video_helpers import assert_mask_matches, video_settings


@pytest.mark.slow
def test_in_process_store_and_refined_tracking(video_checkpoint, video_clip, reference_masks):
    _, pngs, click = video_clip
    app = create_app(video_settings(video_checkpoint, "unused", redis_url=""))
    with TestClient(app) as client:
        assert isinstance(
            app.state.video_sessions.store, InProcessStateStore
        )  # built in the lifespan, not on first use
        with client.websocket_connect("/video/plain") as ws:
            ws.send_json({"type": "start", "refine": False})
            assert ws.receive_json()["refine"] is False
            ws.send_bytes(pngs[0])
            ws.receive_json()
            ws.send_json({"type": "prompt", "frame_idx": 0, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
            assert_mask_matches(ws.receive_json()["objects"][0]["mask"], reference_masks[0], "frame 0")
            ws.send_bytes(pngs[1])
            assert_mask_matches(ws.receive_json()["objects"][0]["mask"], reference_masks[1], "frame 1")
        info = client.get("/video/plain").json()
        assert info["frames_processed"] == 2 and info["bytes"] > 0 and info["ttl_s"] > 0

        with client.websocket_connect("/video/refined") as ws:
            ws.send_json({"type": "start", "refine": True, "format": "polygons"})
            assert ws.receive_json()["refine"] is True
            ws.send_bytes(pngs[0])
            ws.receive_json()
            ws.send_json(
                {
                    "type": "prompt",
                    "objects": [{"obj_id": 4, "box": [10, 10, 200, 150], "points": click, "labels": [1]}],
                }
            )
            reply = ws.receive_json()
            assert reply["type"] == "masks" and isinstance(reply["objects"][0]["mask"], list)
            ws.send_bytes(pngs[1])
            reply = ws.receive_json()
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
