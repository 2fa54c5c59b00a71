"""Boxes that reach past the frame's edges on the video socket (issue 21 item 11): the session tracks them as
sam2's own SAM2VideoPredictor does with the same boxes (it does not clamp); a box that misses the frame is
refused (tests/service/video/test_video_limits.py), by the same check as /segment (service/core/prompts.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sam2refiner.service.app import create_app
from tests.model.video.helpers import propagate, reference_predictor, reference_state
from tests.tiers import tier

from .video_helpers import assert_mask_matches, video_settings

FRAMES = 3
BOXES = {1: [-40.5, -20, 150, 130], 2: [200, 120, 400.25, 300]}  # the clip's frames are 320 x 240


@pytest.fixture(scope="module")
@tier("slow")  # sam2's video predictor built and run
def sam2_tracks(video_checkpoint, video_clip, tmp_path_factory) -> dict:
    """sam2's SAM2VideoPredictor: both boxes on frame 0, tracked; {frame: logits [2, H, W]}."""
    frames = video_clip[0][:FRAMES]
    predictor = reference_predictor(video_checkpoint)
    state = reference_state(predictor, frames, tmp_path_factory.mktemp("reference"))
    for obj_id, box in BOXES.items():
        predictor.add_new_points_or_box(state, 0, obj_id, box=box)
    return propagate(predictor, state)


def test_boxes_past_the_edge_are_tracked_as_sam2_tracks_them(video_checkpoint, video_clip, sam2_tracks):
    _, pngs, _ = video_clip
    app = create_app(video_settings(video_checkpoint, "unused", redis_url=""))  # in-process store
    with TestClient(app) as client, client.websocket_connect("/video/past-the-edge") as ws:
        ws.send_json({"type": "start", "refine": False})
        assert ws.receive_json()["type"] == "started"
        ws.send_bytes(pngs[0])
        assert ws.receive_json()["type"] == "frame"
        ws.send_json({"type": "prompt", "objects": [{"obj_id": k, "box": b} for k, b in BOXES.items()]})
        replies = [ws.receive_json()]
        for t in range(1, FRAMES):
            ws.send_bytes(pngs[t])
            replies.append(ws.receive_json())
    for t, reply in enumerate(replies):
        assert reply["type"] == ("masks" if t == 0 else "frame") and reply["frame_idx"] == t, reply
        assert [o["obj_id"] for o in reply["objects"]] == list(BOXES)
        for i, obj in enumerate(reply["objects"]):
            assert_mask_matches(obj["mask"], sam2_tracks[t][i], f"frame {t}, object {obj['obj_id']}")
