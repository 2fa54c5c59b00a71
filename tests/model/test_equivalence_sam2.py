"""Refiner off equals SAM 2: our predictor against sam2's own SAM2ImagePredictor on the same checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import TEST_IMAGE_SIZE

pytestmark = pytest.mark.slow  # sam2's predictor and ours on every prompt case (tens of seconds of CPU)

TOL = 1e-4


@pytest.fixture(scope="module")
def reference(sam2_checkpoint, test_image):
    """sam2's predictor, built by sam2's own builder (Hydra compose) from the same official-format checkpoint."""
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    side = TEST_IMAGE_SIZE // 16
    sam = build_sam2(
        "configs/sam2.1/sam2.1_hiera_t.yaml",
        sam2_checkpoint,
        device="cpu",
        hydra_overrides_extra=[
            f"++model.image_size={TEST_IMAGE_SIZE}",
            f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]",
            f"++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]",
        ],
    )
    predictor = SAM2ImagePredictor(sam)
    s = TEST_IMAGE_SIZE
    predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    predictor.set_image(test_image)
    return predictor


@pytest.fixture(scope="module")
def ours(refiner_model, test_image):
    from sam2refiner.model import SAM2RefinerImagePredictor

    predictor = SAM2RefinerImagePredictor(refiner_model)
    predictor.set_image(test_image)
    return predictor


def _assert_same(ref_out, our_out):
    (rm, rs, rl), (om, os_, ol) = ref_out, our_out
    assert om.shape == rm.shape and os_.shape == rs.shape and ol.shape == rl.shape
    np.testing.assert_allclose(om, rm, atol=TOL, rtol=0)
    np.testing.assert_allclose(os_, rs, atol=TOL, rtol=0)
    np.testing.assert_allclose(ol, rl, atol=TOL, rtol=0)


CASES = {
    "one positive click": dict(point_coords=np.array([[130, 150]]), point_labels=np.array([1])),
    "positive and negative clicks": dict(
        point_coords=np.array([[130, 150], [300, 102]]), point_labels=np.array([1, 0])
    ),
    "box": dict(box=np.array([60, 80, 200, 220])),
    "box and clicks": dict(
        box=np.array([60, 80, 200, 220]), point_coords=np.array([[130, 150], [70, 90]]), point_labels=np.array([1, 0])
    ),
    "three boxes batched": dict(box=np.array([[60, 80, 200, 220], [210, 90, 390, 115], [0, 0, 399, 299]])),
}


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_refiner_off_equals_sam2(reference, ours, case, multimask):
    prompts = CASES[case]
    ref = reference.predict(**prompts, multimask_output=multimask, return_logits=True)
    got = ours.predict(**prompts, multimask_output=multimask, return_logits=True, refine=False)
    _assert_same(ref, got)
    # Thresholded masks too, wherever the logit is not within the tolerance of the threshold.
    ref_masks = reference.predict(**prompts, multimask_output=multimask)[0]
    our_masks = ours.predict(**prompts, multimask_output=multimask, refine=False)[0]
    decided = np.abs(ref[0]) > TOL
    assert np.array_equal(ref_masks[decided], our_masks[decided])


@pytest.mark.parametrize("multimask", [True, False], ids=["multimask", "single"])
def test_mask_input_from_previous_logits(reference, ours, multimask):
    click = dict(point_coords=np.array([[130, 150]]), point_labels=np.array([1]))
    _, scores, low_res = reference.predict(**click, multimask_output=True)
    mask_input = low_res[np.argmax(scores)][None]
    follow_up = dict(
        point_coords=np.array([[130, 150], [300, 102]]), point_labels=np.array([1, 0]), mask_input=mask_input
    )
    ref = reference.predict(**follow_up, multimask_output=multimask, return_logits=True)
    got = ours.predict(**follow_up, multimask_output=multimask, return_logits=True, refine=False)
    _assert_same(ref, got)


def test_image_features_equal_sam2(reference, ours):
    np.testing.assert_allclose(
        ours.get_image_embedding().numpy(), reference.get_image_embedding().numpy(), atol=TOL, rtol=0
    )


def test_predict_batch_matches_sam2(reference, ours, test_image):
    """set_image_batch / predict_batch: two images, one box each."""
    other = np.ascontiguousarray(test_image[::-1, ::-1])
    boxes = [np.array([60, 80, 200, 220]), np.array([200, 80, 340, 220])]
    reference.set_image_batch([test_image, other])
    ours.set_image_batch([test_image, other])
    try:
        ref = reference.predict_batch(box_batch=boxes, multimask_output=False, return_logits=True)
        got = ours.predict_batch(box_batch=boxes, multimask_output=False, return_logits=True, refine=False)
        for i in range(2):
            _assert_same([r[i] for r in ref], [g[i] for g in got])
    finally:
        reference.set_image(test_image)
        ours.set_image(test_image)
