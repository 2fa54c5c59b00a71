"""Helpers of the video service tests (a module, not conftest, so test files can import it by name)."""

from __future__ import annotations

import io

import numpy as np
import redis
from PIL import Image

from sam2refiner.service.core.masks import decode_rle
from sam2refiner.service.core.settings import Settings

ATOL = 1e-4


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")  # lossless: the server decodes exactly these pixels
    return buf.getvalue()


def video_settings(checkpoint: str, prefix: str, **overrides) -> Settings:
    """Settings of a video app on the test checkpoint; give ``redis_url`` (the ``redis_url`` fixture's) for a
    Redis store, else sessions live in the process."""
    values = dict(
        sam2_config="hiera_t",
        image_size=256,
        device="cpu",
        sam2_checkpoint=checkpoint,
        warmup=False,
        video_key_prefix=prefix,
        video_max_frame_bytes=600_000,
        max_image_pixels=1_000_000,
        random_refiner=True,
    )
    return Settings(**{**values, **overrides})


def assert_mask_matches(rle: dict, reference_logits, what: str = "") -> None:
    """The mask equals sam2's (logits > 0) wherever sam2's logit is further than ATOL from the threshold."""
    ours = decode_rle(rle)
    ref = reference_logits.numpy()
    differ = ours != (ref > 0)
    assert not np.any(differ & (np.abs(ref) > ATOL)), f"{what}: {int(differ.sum())} pixels differ from sam2"


def keys_of(redis_url: str, prefix: str) -> list[bytes]:
    with redis.Redis.from_url(redis_url) as client:
        return sorted(client.scan_iter(match=f"{prefix}*"))
