"""The synthetic generators: deterministic, exact, exclusive masks, objects that move but stay visible."""

import numpy as np
import pytest

from sam2refiner.model.training.synthetic import SHAPE_KINDS, synthetic_image, synthetic_video


def test_image_is_a_pure_function_of_the_seed():
    a_img, a_masks = synthetic_image(7, 128)
    b_img, b_masks = synthetic_image(7, 128)
    c_img, _ = synthetic_image(8, 128)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_masks, b_masks)
    assert not np.array_equal(a_img, c_img)


@pytest.mark.parametrize("kind", SHAPE_KINDS)
def test_each_kind_gives_a_thin_or_holed_nonempty_mask(kind):
    image, masks = synthetic_image(3, (96, 160), num_objects=1, kinds=[kind])
    assert image.shape == (96, 160, 3) and image.dtype == np.uint8
    assert masks.shape == (1, 96, 160) and masks.dtype == bool
    area = masks[0].sum()
    assert 8 <= area < 0.5 * masks[0].size  # fine structures cover a small part of the image


def test_masks_are_exclusive_and_none_is_lost_to_occlusion():
    _, alone = synthetic_image(11, 128, num_objects=3)
    assert alone.sum(0).max() <= 1
    assert all(m.any() for m in alone)


def test_video_shapes_motion_and_exactness():
    frames, masks = synthetic_video(5, num_frames=6, size=64, num_objects=2)
    assert frames.shape == (6, 64, 64, 3) and frames.dtype == np.uint8
    assert masks.shape == (6, 2, 64, 64) and masks.dtype == bool
    assert masks.sum(1).max() <= 1  # exclusive in every frame
    assert (masks.sum((2, 3)) > 0).all()  # every object visible in every frame
    assert not np.array_equal(masks[0], masks[-1])  # objects move
    again = synthetic_video(5, num_frames=6, size=64, num_objects=2)
    assert np.array_equal(again[0], frames) and np.array_equal(again[1], masks)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"size": 16}, "size"),
        ({"num_objects": 0}, "num_objects"),
        ({"kinds": ["blob"]}, "kinds"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        synthetic_image(0, **{"size": 64, **kwargs})
    with pytest.raises(ValueError, match="num_frames"):
        synthetic_video(0, num_frames=0)
