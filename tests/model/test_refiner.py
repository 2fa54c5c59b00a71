"""Refiner on: output sizes, gradients, module switches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sam2refiner.model import RefinerSwitches, SAM2RefinerImagePredictor, build_sam2refiner
from sam2refiner.model.sam2refiner import REFINER_MODULES
from sam2refiner.model.transforms import prepare_image
from tests.conftest import TEST_CONFIG, TEST_IMAGE_SIZE

S = TEST_IMAGE_SIZE
CLICKS = dict(point_coords=np.array([[130, 150], [300, 102]]), point_labels=np.array([1, 0]))


def _build(sam2_checkpoint, **switches):
    return build_sam2refiner(
        TEST_CONFIG, S, "cpu", sam2_checkpoint=sam2_checkpoint, modules=RefinerSwitches(**switches), seed=7
    )


@pytest.mark.slow
def test_refined_masks_at_original_size(refiner_model, test_image):
    predictor = SAM2RefinerImagePredictor(refiner_model)
    predictor.set_image(test_image)
    masks, scores, low_res = predictor.predict(**CLICKS, multimask_output=True, return_logits=True)
    assert masks.shape == (3, 300, 400) and scores.shape == (3,) and low_res.shape == (3, S // 4, S // 4)
    boxes = np.array([[60, 80, 200, 220], [210, 90, 390, 115]])
    masks, scores, low_res = predictor.predict(box=boxes, multimask_output=False)
    assert masks.shape == (2, 1, 300, 400) and set(np.unique(masks)) <= {0.0, 1.0}


@pytest.mark.slow
def test_mask_refinement_predicts_at_input_resolution(refiner_model, test_image):
    """MR's logits come at the encoder's input size (not SAM 2's S/4) and are resized once to the image size."""
    inputs, full, hw = prepare_image(test_image, S, "cpu")
    with torch.no_grad():
        features = refiner_model.encode_image(inputs[None], [hw], originals=[full])
        coords = torch.tensor([[[130 / 400 * S, 150 / 300 * S]]])
        pred = refiner_model.predict_masks(features, coords, torch.tensor([[1]]), multimask_output=False)
    assert pred.logits.shape == (1, 1, S, S)
    assert pred.low_res_logits.shape == (1, 1, S // 4, S // 4)
    assert [a.shape[-1] for a in pred.aux_logits] == [S // 16, S // 8, S // 4]


def _bce_dice(logits, target):
    prob = logits.sigmoid().flatten(1)
    t = target.flatten(1)
    dice = 1 - (2 * (prob * t).sum(1) + 1) / (prob.sum(1) + t.sum(1) + 1)
    return F.binary_cross_entropy_with_logits(logits, target) + dice.mean()


@pytest.mark.slow
def test_backward_reaches_every_refiner_parameter_and_no_sam2_parameter(sam2_checkpoint, test_image):
    model = _build(sam2_checkpoint).train()
    inputs, full, hw = prepare_image(test_image, S, "cpu")
    bb = model.encode_backbone(inputs[None], [full])
    features = model.finish_features(bb, [hw])
    coords = torch.tensor([[[130 / 400 * S, 150 / 300 * S], [300 / 400 * S, 102 / 300 * S]]])
    pred = model.predict_masks(features, coords, torch.tensor([[1, 0]]), multimask_output=False)
    target = torch.zeros(1, 1, S, S)
    target[..., S // 3 : S // 2, S // 4 : S // 2] = 1
    loss = _bce_dice(pred.logits[:, :1], target)
    for aux in pred.aux_logits:
        loss = loss + 0.3 * _bce_dice(aux, F.interpolate(target, size=aux.shape[-2:], mode="area"))
    loss.backward()
    for name, p in model.named_parameters():
        if name.startswith("sam2."):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"
    assert model.sam2.training is False  # frozen SAM 2 stays in eval mode under model.train()


def _count(module):
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


@pytest.mark.slow
@pytest.mark.parametrize("only", ["la", "pr", "mr"])
def test_each_module_alone_changes_output_and_adds_only_its_parameters(sam2_checkpoint, test_image, only):
    full = _build(sam2_checkpoint)
    alone = _build(sam2_checkpoint, **{k: k == only for k in ("la", "pr", "mr")})
    owner = {"la": "localization_augment", "pr": "prompt_retargeting", "mr": "mask_refinement"}[only]
    assert [name for name in REFINER_MODULES if getattr(alone, name) is not None] == [owner]
    assert sum(p.numel() for p in alone.refiner_parameters()) == _count(getattr(full, owner)) > 0

    predictor = SAM2RefinerImagePredictor(alone)
    predictor.set_image(test_image)
    off = predictor.predict(**CLICKS, multimask_output=False, return_logits=True, refine=False)[0]
    on = predictor.predict(**CLICKS, multimask_output=False, return_logits=True, refine=True)[0]
    assert on.shape == off.shape
    assert np.abs(on - off).max() > 1e-3


@pytest.mark.slow
def test_per_call_switches_are_limited_to_the_built_modules(sam2_checkpoint, test_image):
    """Asking for a module the model was built without runs without it instead of failing."""
    model = _build(sam2_checkpoint, la=False, pr=False, mr=True)
    predictor = SAM2RefinerImagePredictor(model)
    predictor.set_image(test_image)
    a = predictor.predict(
        **CLICKS, multimask_output=False, return_logits=True, refine=RefinerSwitches(True, True, True)
    )[0]
    b = predictor.predict(**CLICKS, multimask_output=False, return_logits=True, refine=True)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_features_are_computed_once_per_image(refiner_model, test_image, monkeypatch):
    predictor = SAM2RefinerImagePredictor(refiner_model)
    calls = []
    original = refiner_model.sam2.forward_image
    monkeypatch.setattr(refiner_model.sam2, "forward_image", lambda x: calls.append(x.shape[0]) or original(x))
    predictor.set_image(test_image)
    assert sum(calls) == 5  # the image and its four quadrants (one batch on GPUs, one by one on CPUs)
    encoded = list(calls)
    for _ in range(3):
        predictor.predict(**CLICKS)
        predictor.predict(**CLICKS, refine=False)
    assert calls == encoded


def test_mask_refinement_fast_path_equals_the_plain_composition():
    """The per-image image term, the phase conv and the pixel shuffle compute out(up2(.) + low_level(image))."""
    from sam2refiner.model.modules.mask_refinement import MaskRefinement

    torch.manual_seed(0)
    mr = MaskRefinement()
    for p in mr.parameters():
        torch.nn.init.normal_(p, std=0.3)  # large weights and biases, so a misplaced term shows
    h = 8
    embed = torch.randn(3, 256, h, h)
    feats = [torch.randn(1, 256, h, h), torch.randn(1, 64, 2 * h, 2 * h), torch.randn(1, 32, 4 * h, 4 * h)]
    image, coarse = torch.randn(1, 3, 16 * h, 16 * h), torch.randn(3, 1, 4 * h, 4 * h) * 10
    with torch.no_grad():
        fast, aux = mr(embed, feats, mr.image_term(image), coarse)
        plain = mr.reference_logits(embed, feats, image, coarse)
    assert fast.shape == (3, 1, 16 * h, 16 * h) and len(aux) == 3
    assert torch.allclose(fast, plain, atol=1e-4 * plain.abs().max().item())
