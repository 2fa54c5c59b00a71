"""The client's mask decoders (Pillow and pycocotools, no OpenCV) give the server's masks back, in every format:
compared with the server's own encoders and decoders (OpenCV) on many random masks."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from sam2refiner.service.core import masks as server
from sam2refiner_client.masks import FORMATS, decode_mask, decode_rle, encode_rle


def _random_masks(count: int, seed: int):
    """Noise, blobs, thin lines, single pixels, empty and full masks, of many shapes (1 x 1 up to 90 x 90)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = (int(v) for v in rng.integers(1, 91, 2))
        kind = i % 5
        if kind == 0:
            m = rng.random((h, w)) < rng.random()
        elif kind == 1:
            yy, xx = np.mgrid[:h, :w]
            m = np.zeros((h, w), bool)
            for _ in range(3):
                cy, cx, r, squash = rng.random() * h, rng.random() * w, rng.random() * 30, rng.random() * 2
                m |= (yy - cy) ** 2 + ((xx - cx) * squash) ** 2 < r * r
        elif kind == 2:
            m = np.zeros((h, w), bool)
            m[rng.integers(0, h), :] = True  # a 1-pixel line, traced there and back by a contour
            m[:, rng.integers(0, w)] = True
            m[rng.integers(0, h), rng.integers(0, w)] = True
        elif kind == 3:
            m = np.zeros((h, w), bool)
            m[rng.integers(0, h, 4), rng.integers(0, w, 4)] = True  # isolated pixels
        else:
            m = np.full((h, w), bool(i % 2))
        yield m


def test_formats_are_the_servers():
    assert FORMATS == tuple(server.FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_the_servers_mask(fmt):
    checked = 0
    for m in _random_masks(600, seed=len(fmt)):
        h, w = m.shape
        payload = server.encode_mask(m, fmt)
        ours = decode_mask(payload, fmt, h, w)
        assert ours.dtype == bool and ours.shape == (h, w)
        assert np.array_equal(ours, server.decode_mask(payload, fmt, h, w)), (fmt, m.shape)
        if fmt != "polygons":  # lossless
            assert np.array_equal(ours, m)
        else:  # outer contours: every pixel of the mask is inside, holes are filled
            assert not np.any(m & ~ours)
        checked += int(m.any())
    assert checked > 400


def test_rle_is_what_pycocotools_and_the_server_write():
    for m in _random_masks(50, seed=7):
        ours = encode_rle(m)
        assert ours == server.encode_rle(m)
        coded = coco_mask.encode(np.asfortranarray(m.astype(np.uint8)))
        assert ours["counts"].encode() == coded["counts"]


def test_uncompressed_rle_counts():
    # column-major runs, starting with background: 1 off, 4 on, 1 off in a 2 x 3 mask
    assert np.array_equal(decode_rle({"size": [2, 3], "counts": [1, 4, 1]}), [[False, True, True], [True, True, False]])
    with pytest.raises(ValueError, match="sum to 5"):
        decode_rle({"size": [2, 3], "counts": [1, 4]})


def test_polygons_need_the_size_and_sizes_are_checked():
    with pytest.raises(ValueError, match="height and width"):
        decode_mask([[1, 1, 3, 1, 3, 3]], "polygons")
    with pytest.raises(ValueError, match="4x5 where 5x4"):
        decode_mask(server.encode_png(np.ones((4, 5), bool)), "png", 5, 4)
    with pytest.raises(ValueError, match="unknown mask format"):
        decode_mask({}, "bitmap", 1, 1)
