"""Every bad input raises InvalidInputError (a ValueError) naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sam2refiner.model import ImageNotSetError, InvalidInputError, SAM2RefinerImagePredictor
from tests.conftest import TEST_IMAGE_SIZE

pytestmark = pytest.mark.slow  # its fixtures build the refiner and encode an image (seconds of CPU)

M = TEST_IMAGE_SIZE // 4


@pytest.fixture(scope="module")
def predictor(refiner_model, test_image):
    p = SAM2RefinerImagePredictor(refiner_model)
    p.set_image(test_image)
    return p


def test_predict_before_set_image(refiner_model):
    with pytest.raises(ImageNotSetError, match="image: no image is set"):
        SAM2RefinerImagePredictor(refiner_model).predict(point_coords=[[1, 1]], point_labels=[1])
    assert issubclass(ImageNotSetError, ValueError)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((32, 32, 3), dtype=np.float32), "image: expected dtype uint8"),
        (np.zeros((32, 32), dtype=np.uint8), r"image: expected shape HxWx3, got \(32, 32\)"),
        (np.zeros((32, 32, 4), dtype=np.uint8), "image: expected 3 channels"),
        (np.zeros((1, 32, 3), dtype=np.uint8), "image: image is too small"),
        ("not an image", "image: expected a numpy array"),
    ],
)
def test_bad_images(refiner_model, image, message):
    with pytest.raises(InvalidInputError, match=message):
        SAM2RefinerImagePredictor(refiner_model).set_image(image)


def test_pil_images_of_any_mode_are_converted(refiner_model, test_image):
    p = SAM2RefinerImagePredictor(refiner_model)
    p.set_image(Image.fromarray(test_image).convert("RGBA"))
    assert p.features.orig_hw == [(300, 400)]


def test_bad_image_in_a_batch_names_its_index(refiner_model, test_image):
    with pytest.raises(InvalidInputError, match=r"image_list\[1\]: expected dtype uint8"):
        SAM2RefinerImagePredictor(refiner_model).set_image_batch([test_image, test_image.astype(np.float32)])
    with pytest.raises(InvalidInputError, match="image_list: expected a non-empty list"):
        SAM2RefinerImagePredictor(refiner_model).set_image_batch([])


@pytest.mark.parametrize(
    "prompts, argument, message",
    [
        (dict(), "prompts", "give at least one of"),
        (dict(point_coords=np.zeros((0, 2)), point_labels=np.zeros(0)), "point_coords", "is empty"),
        (dict(point_coords=[[1, 2, 3]], point_labels=[1]), "point_coords", r"expected shape \(P, 2\)"),
        (dict(point_coords=[[10, 10]]), "point_labels", "without point_labels"),
        (dict(point_labels=[1]), "point_coords", "without point_coords"),
        (dict(point_coords=[[10, 10], [20, 20]], point_labels=[1]), "point_labels", "does not match"),
        (dict(point_coords=[[10, 10]], point_labels=[2]), "point_labels", r"labels \[2\] are not supported"),
        (dict(point_coords=[[10, 10]], point_labels=[-1]), "point_labels", "every point is padding"),
        (dict(point_coords=[[10, 10]], point_labels=[0.5]), "point_labels", "whole numbers"),
        (dict(point_coords=[[10, np.nan]], point_labels=[1]), "point_coords", "NaN"),
        (dict(point_coords=[["a", "b"]], point_labels=[1]), "point_coords", "not numeric"),
        (dict(point_coords=[[401, 10]], point_labels=[1]), "point_coords", r"outside the image \(400x300\)"),
        (dict(point_coords=[[-1, 10]], point_labels=[1]), "point_coords", "outside the image"),
        (
            dict(point_coords=[[0.5, 1.5]], point_labels=[1], normalize_coords=False),
            "point_coords",
            r"outside \[0, 1\]",
        ),
        (dict(box=[50, 10, 40, 30]), "box", "x1 < x0"),
        (dict(box=[10, 50, 40, 30]), "box", "y1 < y0"),
        (dict(box=[1, 2, 3]), "box", r"expected shape \(4,\) or \(N, 4\)"),
        (
            dict(box=[[0, 0, 10, 10], [0, 0, 20, 20]], point_coords=[[5, 5]], point_labels=[1]),
            "box",
            "disagree on the number of objects",
        ),
        (dict(mask_input=np.zeros((1, 32, 32))), "mask_input", rf"expected shape \(1, {M}, {M}\)"),
        (dict(box=[[0, 0, 10, 10], [0, 0, 20, 20]], mask_input=np.zeros((1, 1, M, M))), "mask_input", "disagree"),
        (dict(point_coords=[[10, 10]], point_labels=[1], refine="yes"), "refine", "expected True, False"),
    ],
)
def test_bad_prompts(predictor, prompts, argument, message):
    with pytest.raises(InvalidInputError, match=message) as err:
        predictor.predict(**prompts)
    assert err.value.argument == argument
    assert str(err.value).startswith(f"{argument}: ")


def test_predict_on_a_batch_needs_predict_batch(refiner_model, test_image):
    p = SAM2RefinerImagePredictor(refiner_model)
    p.set_image_batch([test_image, test_image])
    with pytest.raises(InvalidInputError, match="use predict_batch"):
        p.predict(point_coords=[[10, 10]], point_labels=[1])


def test_errors_leave_the_image_set(predictor):
    with pytest.raises(InvalidInputError):
        predictor.predict(box=[50, 10, 40, 30])
    masks, _, _ = predictor.predict(box=[40, 10, 50, 30], multimask_output=False)
    assert masks.shape == (1, 300, 400)
