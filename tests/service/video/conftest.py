"""Fixtures of the video service tests: a 20-frame synthetic clip as PNG bytes, sam2's own video predictor's
masks for it (one object clicked on frame 0), and settings for an app on the test Redis under a unique prefix."""

from __future__ import annotations

import uuid

import pytest
import redis

from tests.model.video.helpers import click_on, clip, propagate, reference_predictor, reference_state
from tests.tiers import tier

from .video_helpers import png_bytes


@pytest.fixture(scope="session")
def video_clip():
    frames, masks = clip(num_frames=20)
    return frames, [png_bytes(f) for f in frames], click_on(masks[0, 0])


@pytest.fixture(scope="session")
@tier("slow")  # sam2's video predictor over 20 frames, and the tests that compare whole streams with it
def reference_masks(video_checkpoint, video_clip, tmp_path_factory) -> dict:
    """sam2's SAM2VideoPredictor on the clip: object 1 clicked on frame 0; {frame: logits [H, W]}."""
    frames, _, click = video_clip
    predictor = reference_predictor(video_checkpoint)
    state = reference_state(predictor, frames, tmp_path_factory.mktemp("reference"))
    predictor.add_new_points_or_box(state, 0, 1, points=click, labels=[1])
    return {t: logits[0] for t, logits in propagate(predictor, state).items()}


@pytest.fixture(scope="module")
def video_prefix(redis_url):
    prefix = f"sam2refiner-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
