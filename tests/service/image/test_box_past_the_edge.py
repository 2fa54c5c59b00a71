"""Boxes that reach past the image's edges (issue 21 item 11): /segment answers them as sam2's own
SAM2ImagePredictor does with the same box (it does not clamp), and refuses only boxes that miss the image or are
inverted. The predictor wraps the app's own SAM 2 (seeded random weights), so both sides run the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

from sam2refiner.service.core.masks import decode_mask

H, W = 120, 160
TOL = 1e-4

PAST_THE_EDGE = {
    "left_and_top": [-30.5, -12, 90, 70],
    "right_and_bottom": [100, 60, 200.25, 150],
    "every_side": [-40, -40, 200, 160],
    "touching_the_right_edge": [W, 10, W + 30, 50],  # edges included, as for points
}


@pytest.fixture(scope="module")
def sam2_predictor(api, rgb_image):
    """sam2's SAM2ImagePredictor on the app's own SAM 2 model, the test image set."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    sam2 = api.runtime.model.sam2
    predictor = SAM2ImagePredictor(sam2)
    side = sam2.image_size
    predictor._bb_feat_sizes = [(side // 4, side // 4), (side // 8, side // 8), (side // 16, side // 16)]
    predictor.set_image(rgb_image)
    return predictor


@pytest.mark.parametrize("multimask", [False, True], ids=["single", "multimask"])
def test_boxes_past_the_edge_are_answered_as_sam2_answers_them(api, image_b64, sam2_predictor, multimask):
    boxes = list(PAST_THE_EDGE.values())
    r = api.post(
        "/segment",
        json={"image": image_b64, "objects": [{"box": b} for b in boxes], "refine": False, "multimask": multimask},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    for box, obj in zip(boxes, body["objects"]):
        logits, scores, _ = sam2_predictor.predict(box=np.array(box), multimask_output=multimask, return_logits=True)
        served = np.stack([decode_mask(m["mask"], body["format"], H, W) for m in obj["masks"]])
        decided = np.abs(logits) > TOL  # pixels whose logit is not within the tolerance of the threshold
        assert served.shape == logits.shape and np.array_equal(served[decided], logits[decided] > 0), box
        np.testing.assert_allclose([m["score"] for m in obj["masks"]], scores, rtol=0, atol=TOL)


@pytest.mark.parametrize(
    "box, needle",
    [
        ([W + 1, 0, W + 50, 60], "does not overlap"),
        ([-50, 0, -0.5, 60], "does not overlap"),
        ([0, H + 0.5, 60, H + 9], "does not overlap"),
        ([90, 10, 30, 60], "x1 < x0"),
        ([10, 60, 30, -5], "y1 < y0"),
    ],
)
def test_only_boxes_that_miss_the_image_or_are_inverted_are_refused(api, image_id, box, needle):
    r = api.post(
        "/segment", json={"image_id": image_id, "objects": [{"points": [[5, 5]], "labels": [1]}, {"box": box}]}
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_field" and error["field"] == "objects.1.box" and needle in error["message"]
