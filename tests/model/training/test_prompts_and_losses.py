"""Prompt sampling (boxes, clicks, coarse masks), batching for predict_masks, and the paper's loss."""

import numpy as np
import pytest
import torch

from sam2refiner.model.sam2refiner import MaskPrediction
from sam2refiner.model.training.losses import LossWeights, bce_dice, refiner_loss, resize_target
from sam2refiner.model.training.prompts import (
    coarse_mask_logits,
    evaluation_points,
    interior_point,
    mask_box,
    noisy_box,
    sample_points,
    sample_training_prompt,
    stack_prompts,
)


def ring_mask(size=64):
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - 30, xx - 34)
    return (r < 20) & (r > 12)


def test_box_and_noise_stay_near_the_object():
    m = np.zeros((64, 64), bool)
    m[10:20, 30:50] = True
    assert mask_box(m).tolist() == [30, 10, 50, 20]
    rng = np.random.default_rng(0)
    for _ in range(50):
        x0, y0, x1, y1 = noisy_box(m, rng)
        assert abs(x0 - 30) <= 2 and abs(x1 - 50) <= 2 and abs(y0 - 10) <= 1 and abs(y1 - 20) <= 1
        assert x1 > x0 and y1 > y0


def test_points_fall_on_the_right_side_of_the_mask():
    m = ring_mask()
    coords, labels = sample_points(m, np.random.default_rng(1), 6, 4)
    assert labels.tolist() == [1] * 6 + [0] * 4
    px = coords.astype(int)
    assert m[px[:6, 1], px[:6, 0]].all() and not m[px[6:, 1], px[6:, 0]].any()


def test_interior_click_and_evaluation_points_are_positive_and_seeded():
    m = ring_mask()
    x, y = interior_point(m).astype(int)
    assert m[y, x]
    a, b = evaluation_points(m, 5, seed=3), evaluation_points(m, 5, seed=3)
    assert a.shape == (5, 2) and np.array_equal(a, b)
    assert m[a[:, 1].astype(int), a[:, 0].astype(int)].all()


def test_coarse_mask_is_a_noisy_low_res_copy():
    m = ring_mask(256)
    logits = coarse_mask_logits(m, np.random.default_rng(0), 64)
    assert logits.shape == (1, 64, 64) and set(np.unique(logits)) <= {-8.0, 8.0}
    small = m.reshape(64, 4, 64, 4).mean((1, 3)) > 0.5
    agree = ((logits[0] > 0) == small).mean()
    assert 0.8 < agree < 1.0  # close to the GT, but perturbed


def test_mixed_prompts_cover_every_type_and_stack_into_two_calls():
    m = ring_mask(256)
    rng = np.random.default_rng(0)
    prompts = [sample_training_prompt(m, rng, 256) for _ in range(40)]
    kinds = {("mask" if p.mask_logits is not None else "box" if 2 in p.labels else "points") for p in prompts}
    assert kinds == {"box", "points", "mask"}
    batches = stack_prompts(prompts, "cpu")
    assert len(batches) == 2
    no_mask, with_mask = batches
    assert with_mask.mask_input.shape[1:] == (1, 64, 64)
    assert sorted(no_mask.rows + with_mask.rows) == list(range(40))
    # padding keeps every prompt's own points and fills the rest with label -1
    p = prompts[no_mask.rows[0]]
    assert no_mask.labels[0, : p.num_points].tolist() == p.labels.tolist()
    assert (no_mask.labels[0, p.num_points :] == -1).all()


def test_bce_dice_hand_values():
    target = torch.zeros(1, 1, 2, 2)
    target[..., 0, 0] = 1
    logits = torch.zeros(1, 1, 2, 2)
    bce, dice = bce_dice(logits, target)
    assert bce.item() == pytest.approx(np.log(2))
    # p = 0.5 everywhere: 1 - (2*0.5 + 1) / (2 + 1 + 1) = 0.5
    assert dice.item() == pytest.approx(0.5)
    perfect = torch.where(target > 0, 20.0, -20.0)
    bce, dice = bce_dice(perfect, target)
    assert bce.item() < 1e-6 and dice.item() < 1e-6


def test_targets_shrink_by_area_so_thin_lines_survive():
    t = torch.zeros(1, 1, 16, 16)
    t[..., 5, :] = 1  # a one-pixel line
    small = resize_target(t, (4, 4))
    assert small.max().item() == pytest.approx(0.25) and small.sum().item() == pytest.approx(1.0)


def test_refiner_loss_weights_the_intermediate_heads():
    target = (torch.rand(2, 1, 32, 32) > 0.5).float()
    logits = torch.randn(2, 1, 32, 32, requires_grad=True)
    aux = [torch.randn(2, 1, s, s, requires_grad=True) for s in (2, 4, 8)]
    pred = MaskPrediction(logits, logits, torch.zeros(2, 1), torch.zeros(2, 1), aux, torch.zeros(2, 1), torch.zeros(1))
    parts = refiner_loss(pred, target, LossWeights(1.0, 0.3))
    expected = sum(bce_dice(logits, target)) + 0.3 * sum(sum(bce_dice(a, target)) for a in aux)
    assert parts["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    parts["loss"].backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in aux)
    with pytest.raises(ValueError, match="multimask_output=False"):
        refiner_loss(MaskPrediction(torch.zeros(1, 3, 4, 4), None, None, None, [], None, None), torch.zeros(1, 1, 4, 4))
