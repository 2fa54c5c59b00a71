"""Training asks SAM 2 for what inference refines: one-click prompts train on SAM 2's multimask candidates, and the
loss goes to the candidate SAM 2 returns (model/training/losses.py: kept_candidate)."""

import numpy as np
import pytest
import torch

from sam2refiner.model.training.losses import kept_candidate
from sam2refiner.model.training.prompts import PromptSet, box_prompt, is_ambiguous, mask_box, stack_prompts

from .test_trainer import tiny_config


def one_click(mask: np.ndarray) -> PromptSet:
    ys, xs = np.nonzero(mask)
    return PromptSet(np.array([[xs[0] + 0.5, ys[0] + 0.5]], np.float32), np.array([1], np.int32))


def test_sam2s_policy_picks_the_ambiguous_prompts():
    mask = np.zeros((16, 16), bool)
    mask[4:9, 3:12] = True
    logits = np.zeros((1, 4, 4), np.float32)
    click = one_click(mask)
    two = PromptSet(np.zeros((2, 2), np.float32), np.ones(2, np.int32))
    assert is_ambiguous(click) and is_ambiguous(PromptSet(click.coords, click.labels, logits))
    assert not is_ambiguous(box_prompt(mask_box(mask))) and not is_ambiguous(two)
    assert not is_ambiguous(PromptSet(np.zeros((0, 2), np.float32), np.zeros(0, np.int32), logits))  # a mask alone
    batches = stack_prompts([click, box_prompt(mask_box(mask)), two], "cpu", (0, 1))
    assert sorted((b.rows, b.multimask) for b in batches) == [([0], True), ([1, 2], False)]
    assert [b.multimask for b in stack_prompts([click], "cpu")] == [False]  # no policy given: one mask, as before


def test_kept_candidate_is_the_one_with_sam2s_highest_iou():
    from sam2refiner.model.sam2refiner import MaskPrediction

    n, m = 2, 3
    logits = torch.arange(n * m, dtype=torch.float32).view(n, m, 1, 1).expand(n, m, 4, 4)
    iou = torch.tensor([[0.25, 0.75, 0.5], [0.5, 0.25, 0.125]])
    aux = [torch.arange(n * m, dtype=torch.float32).view(n * m, 1, 1, 1).expand(n * m, 1, 2, 2)]
    pred = MaskPrediction(
        logits,
        logits,
        iou,
        torch.zeros(n, 1),
        aux,
        torch.tensor([[1, 2, 3]] * 2),
        torch.arange(n * m, dtype=torch.float32).view(n * m, 1, 1, 1),
    )
    kept = kept_candidate(pred)
    assert kept.logits.shape == (2, 1, 4, 4) and kept.logits[:, 0, 0, 0].tolist() == [1.0, 3.0]
    assert kept.token_index.tolist() == [[2], [1]] and kept.aux_logits[0][:, 0, 0, 0].tolist() == [1.0, 3.0]
    assert kept.object_embed.flatten().tolist() == [1.0, 3.0] and kept.iou.tolist() == [[0.75], [0.5]]


@pytest.mark.slow
def test_a_one_click_step_sends_gradient_through_the_multimask_candidate_it_trained(tmp_path, monkeypatch):
    from sam2refiner.model.training.engine import Trainer

    trainer = Trainer(tiny_config(tmp_path, max_steps=1, augment_prob=0.0))
    item = trainer.samples[0]
    backbone, orig_hw = trainer._encode([item])
    target = torch.from_numpy(item["targets"][:1])[:, None]
    batches = stack_prompts([one_click(item["targets"][0] >= 0.5)], "cpu", trainer.multimask_points)
    assert [b.multimask for b in batches] == [True]

    seen = {}
    predict = trainer.model.predict_masks

    def recording(*args, **kwargs):
        pred = predict(*args, **kwargs)
        pred.logits.retain_grad()
        seen["pred"], seen["multimask"] = pred, kwargs["multimask_output"]
        return pred

    monkeypatch.setattr(trainer.model, "predict_masks", recording)
    trainer.model.train()
    trainer.optimizer.zero_grad(set_to_none=True)
    loss, _, _ = trainer.wrapped(backbone, orig_hw, [batches], [target])
    loss.backward()

    pred = seen["pred"]
    assert seen["multimask"] is True and pred.logits.shape[1] == 3
    assert pred.token_index[0].tolist() == [1, 2, 3]  # the multimask tokens, not token 0
    trained = int(pred.iou[0].argmax())
    grad = pred.logits.grad[0].flatten(1).abs().sum(1)  # per candidate
    assert grad[trained] > 0
    assert all(grad[k] == 0 for k in range(3) if k != trained)
    mr = [p.grad for p in trainer.model.mask_refinement.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in mr)  # and on into Mask Refinement's weights


def test_a_box_prompt_stays_on_one_mask(tmp_path):
    from sam2refiner.model.training.engine import Trainer

    trainer = Trainer(tiny_config(tmp_path, max_steps=1, augment_prob=0.0))
    item = trainer.samples[0]
    batches = stack_prompts([box_prompt(mask_box(item["targets"][0] >= 0.5))], "cpu", trainer.multimask_points)
    assert [b.multimask for b in batches] == [False]
