"""Helpers of the video service tests (a module, not conftest, so test files can import it by name)."""

from __future__ import annotations

import io

import numpy as np
import redis
from PIL import Image

from sam2refiner.service.core.masks import decode_rle
from sam2refiner.service.core.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
ATOL = 1e-4


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")  # lossless: the server decodes exactly these pixels
    return buf.getvalue()


def video_settings(checkpoint: str, prefix: str, **overrides) -> Settings:
    values = dict(
        sam2_config="hiera_t",
        image_size=256,
        device="cpu",
        sam2_checkpoint=checkpoint,
        warmup=False,
        redis_url=REDIS_URL,
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


def keys_of(prefix: str) -> list[bytes]:
    return sorted(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{prefix}*"))
