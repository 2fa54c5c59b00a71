"""Fixtures of the video service tests: a 20-frame synthetic clip as PNG bytes, sam2's own video predictor's
masks for it (one object clicked on frame 0), and settings for an app on the test Redis under a unique prefix."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
import redis
from PIL import Image

from service.mask_codecs import decode_rle
from service.settings import Settings
from tests.model.video.helpers import click_on, clip, propagate, reference_predictor, reference_state

REDIS_URL = "redis://127.0.0.1:6379/0"
ATOL = 1e-4


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")  # lossless: the server decodes exactly these pixels
    return buf.getvalue()


def video_settings(checkpoint: str, prefix: str, **overrides) -> Settings:
    values = dict(
        sam2_config="hiera_t", image_size=256, device="cpu", sam2_checkpoint=checkpoint, warmup=False,
        redis_url=REDIS_URL, video_key_prefix=prefix, video_max_frame_bytes=600_000, max_image_pixels=1_000_000,
    )
    return Settings(**{**values, **overrides})


def assert_mask_matches(rle: dict, reference_logits, what: str = "") -> None:
    """The mask equals sam2's (logits > 0) wherever sam2's logit is further than ATOL from the threshold."""
    ours = decode_rle(rle)
    ref = reference_logits.numpy()
    differ = ours != (ref > 0)
    assert not np.any(differ & (np.abs(ref) > ATOL)), f"{what}: {int(differ.sum())} pixels differ from sam2"


@pytest.fixture(scope="session")
def video_clip():
    frames, masks = clip(num_frames=20)
    return frames, [png_bytes(f) for f in frames], click_on(masks[0, 0])


@pytest.fixture(scope="session")
def reference_masks(video_checkpoint, video_clip, tmp_path_factory) -> dict:
    """sam2's SAM2VideoPredictor on the clip: object 1 clicked on frame 0; {frame: logits [H, W]}."""
    frames, _, click = video_clip
    predictor = reference_predictor(video_checkpoint)
    state = reference_state(predictor, frames, tmp_path_factory.mktemp("reference"))
    predictor.add_new_points_or_box(state, 0, 1, points=click, labels=[1])
    return {t: logits[0] for t, logits in propagate(predictor, state).items()}


@pytest.fixture(scope="module")
def video_prefix():
    prefix = f"sam2refiner-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)


def keys_of(prefix: str) -> list[bytes]:
    return sorted(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{prefix}*"))
