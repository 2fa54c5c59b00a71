"""The paper's loss (eq. 3): lambda_f (BCE + dice) on the final mask + lambda_i sum_i (BCE + dice) on the three
intermediate heads of Mask Refinement, after HQ-SAM's BCE + dice.

Targets are soft ([0, 1]) masks at the encoder resolution; each prediction is compared with the target
resized to its own size by area averaging, so a 1-pixel wire at S becomes a faint line at S/16 instead of
vanishing (as nearest-neighbour downsampling would make it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sam2refiner.model.sam2refiner import MaskPrediction


def resize_target(target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[N, 1, H, W] soft target -> [N, 1, *size] (area average when shrinking, bilinear when growing)."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    if size[0] <= target.shape[-2] and size[1] <= target.shape[-1]:
        return F.interpolate(target, size=size, mode="area")
    return F.interpolate(target, size=size, mode="bilinear", align_corners=False)


def bce_dice(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean BCE over pixels and mean dice loss over masks. logits, target [N, 1, H, W] (target resized here)."""
    logits = logits.float()
    target = resize_target(target.float(), logits.shape[-2:])
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = logits.sigmoid().flatten(1)
    tgt = target.flatten(1)
    # HQ-SAM's dice: 1 - (2 |p.t| + 1) / (|p| + |t| + 1), per mask, then averaged
    dice = 1 - (2 * (prob * tgt).sum(-1) + 1) / (prob.sum(-1) + tgt.sum(-1) + 1)
    return bce, dice.mean()


@dataclass
class LossWeights:
    final: float = 1.0  # lambda_f
    intermediate: float = 0.3  # lambda_i, per head


def kept_candidate(pred: MaskPrediction) -> MaskPrediction:
    """The candidate SAM 2 returns of a multimask prediction (the highest predicted IoU, as ``SAM2Base`` and the
    predictors keep it), as a one-mask prediction; a one-mask prediction is returned as it is.

    We train this candidate rather than the best of the three against the ground truth (SAM's training choice):
    inference keeps SAM 2's pick (the tracker, and the evaluation's one-click protocol), so the refiner learns to
    fix the mask it will actually be asked to fix. SAM 2's IoU head is frozen, so the choice does not move in
    training.
    """
    n, m = pred.iou.shape
    if m == 1:
        return pred
    best = pred.iou.argmax(-1)  # [N]
    rows = torch.arange(n, device=best.device)
    per_candidate = lambda t: t.view(n, m, *t.shape[1:])[rows, best]  # noqa: E731  ([N*M, ...] -> [N, ...])
    aux = [per_candidate(a) for a in pred.aux_logits]  # [N, 1, r, r]
    return MaskPrediction(
        logits=pred.logits[rows, best][:, None],
        low_res_logits=pred.low_res_logits[rows, best][:, None],
        iou=pred.iou[rows, best][:, None],
        object_score_logits=pred.object_score_logits,
        aux_logits=aux,
        token_index=pred.token_index[rows, best][:, None],
        object_embed=per_candidate(pred.object_embed),
    )


def refiner_loss(
    pred: MaskPrediction, target: torch.Tensor, weights: LossWeights | None = None
) -> dict[str, torch.Tensor]:
    """Loss of one ``predict_masks`` call with ``multimask_output=False`` (or its ``kept_candidate``).

    pred.logits [N, 1, R, R]; pred.aux_logits three [N, 1, r, r] (empty without Mask Refinement);
    target [N, 1, S, S] soft GT. Returns {"loss", "final", "intermediate"} (the last two detached).
    """
    if pred.logits.shape[1] != 1:
        raise ValueError(
            f"refiner_loss expects one mask per prompt (multimask_output=False), got {pred.logits.shape[1]}"
        )
    weights = weights or LossWeights()
    bce, dice = bce_dice(pred.logits, target)
    final = bce + dice
    inter = final.new_zeros(())
    for aux in pred.aux_logits:
        a_bce, a_dice = bce_dice(aux, target)
        inter = inter + a_bce + a_dice
    loss = weights.final * final + weights.intermediate * inter
    return {"loss": loss, "final": final.detach(), "intermediate": inter.detach()}


__all__ = ["bce_dice", "refiner_loss", "kept_candidate", "LossWeights", "resize_target"]
