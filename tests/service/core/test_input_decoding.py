"""Decoding what clients send: compressed RLE run lengths, 16-bit PNGs, and the rejection counter under a shared
encode (issue 9, defects 5, 8 and 9)."""

from __future__ import annotations

import asyncio
import base64

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY
from pycocotools import mask as mask_utils

from sam2refiner.service.core.errors import InvalidFieldError, QueueFullError
from sam2refiner.service.core.images import decode_image_bytes
from sam2refiner.service.core.masks import compressed_counts, decode_rle, encode_rle
from tests.service.conftest import png_b64


def test_compressed_counts_are_the_runs_pycocotools_encodes():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.random()
        runs = compressed_counts(encode_rle(mask)["counts"])
        assert sum(runs) == h * w
        assert (
            mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)["counts"].decode()
            == encode_rle(mask)["counts"]
        )


@pytest.mark.parametrize(
    "counts", [encode_rle(np.ones((10, 10), bool))["counts"], "zz", encode_rle(np.ones((40, 40), bool))["counts"]]
)
def test_rle_whose_runs_do_not_cover_the_mask_is_refused(counts):
    with pytest.raises(InvalidFieldError) as e:
        decode_rle({"size": [24, 32], "counts": counts}, "mask")
    assert e.value.field == "mask.counts"


def _png16(values: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", values)
    assert ok and values.dtype == np.uint16
    return buf.tobytes()


def test_16_bit_grayscale_png_is_scaled_to_8_bits():
    ramp = np.linspace(0, 65535, 40 * 30).round().astype(np.uint16).reshape(30, 40)
    pixels = decode_image_bytes(_png16(ramp), 10_000)
    expected = np.round(ramp / 257.0).astype(np.uint8)
    assert pixels.shape == (30, 40, 3) and pixels.dtype == np.uint8
    assert np.abs(pixels[..., 0].astype(int) - expected).max() <= 1 and (pixels[..., 0] == pixels[..., 2]).all()
    assert (pixels == 255).mean() < 0.01  # a ramp, not clipped to white


def test_16_bit_rgb_png_keeps_its_colours():
    ramp = np.linspace(0, 65535, 30 * 40).round().astype(np.uint16).reshape(30, 40)
    bgr = np.stack([65535 - ramp, ramp // 2, ramp], axis=-1)  # OpenCV writes BGR
    pixels = decode_image_bytes(_png16(bgr), 10_000)
    expected = np.round(bgr[..., ::-1] / 257.0)
    assert np.abs(pixels.astype(int) - expected).max() <= 1


@pytest.mark.slow  # encodes two new images
def test_16_bit_png_segments_as_its_8_bit_equivalent(api):
    ramp = np.linspace(0, 65535, 48 * 64).round().astype(np.uint16).reshape(48, 64)
    eight = np.repeat(((ramp.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)[..., None], 3, axis=2)
    body = {"objects": [{"box": [5, 5, 40, 30]}]}
    first = api.post("/segment", json={**body, "image": base64.b64encode(_png16(ramp)).decode()})
    second = api.post("/segment", json={**body, "image": png_b64(eight)})
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert first.json()["image_id"] == second.json()["image_id"]  # ids hash the pixels: the same image


def _rejected() -> float:
    return REGISTRY.get_sample_value("sam2refiner_queue_rejected_total") or 0.0


def test_every_request_refused_with_a_shared_encode_is_counted(api, monkeypatch):
    """Five requests for one new image share one encode job; the full queue refuses it: five rejections."""
    engine = api.engine
    pixels = np.random.default_rng(11).integers(0, 255, (40, 50, 3), dtype=np.uint8)

    async def five():
        return await asyncio.gather(
            *[
                engine.segment(
                    engine.feature_source("img_shared_refusal", pixels), "img_shared_refusal", [], False, True
                )
                for _ in range(5)
            ],
            return_exceptions=True,
        )

    monkeypatch.setattr(api.runtime.worker, "queue_size", 0)  # a full queue, without holding the worker

    before = _rejected()
    outcomes = api.portal.call(five)
    assert all(isinstance(o, QueueFullError) for o in outcomes), outcomes
    assert _rejected() - before == 5
