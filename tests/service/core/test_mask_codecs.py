import warnings

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sam2refiner.service.core.errors import InvalidFieldError
from sam2refiner.service.core.masks import (
    decode_mask,
    decode_rle,
    encode_mask,
    encode_png,
    encode_polygons,
    encode_rle,
)


@pytest.fixture
def mask():
    m = np.zeros((37, 53), bool)
    m[5:20, 10:40] = True
    m[25:30, 3:8] = True
    return m


def test_rle_is_what_pycocotools_writes(mask):
    ours = encode_rle(mask)
    theirs = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert ours["size"] == [37, 53] and ours["counts"].encode() == theirs["counts"]
    assert np.array_equal(
        mask_utils.decode({"size": ours["size"], "counts": ours["counts"].encode()}).astype(bool), mask
    )


def test_rle_uncompressed_counts(mask):
    flat = mask.T.reshape(-1).astype(np.uint8)  # column-major, as COCO
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    assert np.array_equal(decode_rle({"size": [37, 53], "counts": counts}), mask)


@pytest.mark.parametrize(
    "rle, field",
    [
        ({"size": [37, 53], "counts": [5, 5]}, "rle.counts"),
        ({"size": [37, 53]}, "rle"),
        ({"size": [37, 53], "counts": "\u00e9\u00e9"}, "rle.counts"),  # counts are checked before pycocotools sees them
    ],
)
def test_bad_rle_names_the_field(rle, field):
    with pytest.raises(InvalidFieldError) as e:
        decode_rle(rle)
    assert e.value.field == field


def test_png_and_polygons_round_trip(mask):
    assert np.array_equal(decode_mask(encode_png(mask), "png", 37, 53), mask)
    polys = encode_polygons(mask)
    assert len(polys) == 2
    assert np.array_equal(decode_mask(polys, "polygons", 37, 53), mask)  # axis-aligned shapes survive exactly


def test_unknown_format(mask):
    with pytest.raises(InvalidFieldError) as e:
        encode_mask(mask, "bmp")
    assert e.value.field == "format"


def test_rle_decodes_as_pycocotools_decodes_without_its_numpy_2_warning():
    """decode_rle lays the runs out itself: pycocotools' decode warns under numpy 2 (DeprecationWarning, filtered
    in pyproject.toml for the tests that use it as the reference)."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.random()
        rle = encode_rle(mask)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours = decode_rle(rle)
        assert ours.dtype == bool and ours.shape == (h, w) and np.array_equal(ours, mask)
        theirs = mask_utils.decode({"size": [h, w], "counts": rle["counts"].encode()})
        assert np.array_equal(ours, theirs.astype(bool))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not decode_rle({"size": [3, 2], "counts": [6]}).any()
        assert decode_rle({"size": [3, 2], "counts": [0, 6]}).all()
    with pytest.raises(InvalidFieldError) as e:
        decode_rle({"size": [-2, -3], "counts": [6]})
    assert e.value.field == "rle.size"
