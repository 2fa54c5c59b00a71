"""Prompt sampling from ground-truth masks, for training (mixed prompts, sec. 3.3) and for evaluation.

All coordinates are in encoder-input pixels (the image resized to S x S), as ``SAM2Refiner.predict_masks``
takes them; boxes travel as two points labelled 2 and 3, first, as in sam2. Sampling is a pure function of the
numpy ``Generator`` passed in, so a resumed training run samples the same prompts as an uninterrupted one.

    PromptSet   coords [P, 2] float32, labels [P] int32, mask_logits [1, S/4, S/4] float32 or None
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

PROMPT_TYPES = ("box", "points", "mask")
PAD_LABEL = -1
# Coarse masks enter SAM 2's prompt encoder as logits; a saturated +-value stands for a binary mask.
COARSE_MASK_LOGIT = 8.0


@dataclass
class PromptSet:
    coords: np.ndarray
    labels: np.ndarray
    mask_logits: np.ndarray | None = None

    @property
    def num_points(self) -> int:
        return int(self.labels.shape[0])


def mask_box(mask: np.ndarray) -> np.ndarray:
    """Tight box (x0, y0, x1, y1) of a binary mask [H, W], pixel edges inclusive -> exclusive (sam-hq's
    ``masks_to_boxes`` gives max indices; +1 makes a one-pixel object a one-pixel box)."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError("cannot make a box for an empty mask")
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def noisy_box(mask: np.ndarray, rng: np.random.Generator, noise: float = 0.1) -> np.ndarray:
    """The GT box with each side moved by up to ``noise`` x the box's size (uniform), kept inside the image."""
    x0, y0, x1, y1 = mask_box(mask)
    w, h = x1 - x0, y1 - y0
    jitter = rng.uniform(-noise, noise, 4) * np.array([w, h, w, h])
    box = np.array([x0, y0, x1, y1]) + jitter
    size_h, size_w = mask.shape
    box = np.clip(box, 0, [size_w, size_h, size_w, size_h])
    box[2], box[3] = max(box[2], box[0] + 1), max(box[3], box[1] + 1)
    return box.astype(np.float32)


def _pixel_centres(flat_indices: np.ndarray, width: int) -> np.ndarray:
    return np.stack([flat_indices % width + 0.5, flat_indices // width + 0.5], axis=1).astype(np.float32)


def sample_points(
    mask: np.ndarray, rng: np.random.Generator, num_positive: int, num_negative: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random clicks: positives on the mask, negatives off it but inside its box grown by half its size.

    Returns coords [P, 2] (pixel centres) and labels [P] (1 positive, 0 negative).
    """
    h, w = mask.shape
    pos = np.flatnonzero(mask)
    if pos.size == 0:
        raise ValueError("cannot sample positive points from an empty mask")
    chosen = [rng.choice(pos, size=num_positive, replace=pos.size < num_positive)]
    labels = [np.ones(num_positive, np.int32)]
    if num_negative > 0:
        x0, y0, x1, y1 = mask_box(mask)
        gx, gy = (x1 - x0) / 2, (y1 - y0) / 2
        region = np.zeros_like(mask, dtype=bool)
        region[int(max(0, y0 - gy)) : int(min(h, y1 + gy)), int(max(0, x0 - gx)) : int(min(w, x1 + gx))] = True
        neg = np.flatnonzero(region & ~mask)
        if neg.size:
            chosen.append(rng.choice(neg, size=num_negative, replace=neg.size < num_negative))
            labels.append(np.zeros(num_negative, np.int32))
    return _pixel_centres(np.concatenate(chosen), w), np.concatenate(labels)


def coarse_mask_logits(mask: np.ndarray, rng: np.random.Generator, low_res: int) -> np.ndarray:
    """A degraded copy of the GT as SAM 2's mask prompt: [1, low_res, low_res] logits.

    Downsampled to the prompt resolution (thin parts fade out, as in a coarse mask), then a random erosion or
    dilation, then the boundary pixels flipped at random (as sam-hq's ``masks_noise`` perturbs boundaries).
    """
    small = cv2.resize(mask.astype(np.float32), (low_res, low_res), interpolation=cv2.INTER_AREA) > 0.5
    small = small.astype(np.uint8)
    k = int(rng.integers(0, 3))
    if k:
        op = cv2.dilate if rng.random() < 0.5 else cv2.erode
        small = op(small, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    edge = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(bool)
    flip = edge & (rng.random(small.shape) < 0.3)
    small = np.where(flip, 1 - small, small)
    return ((small.astype(np.float32) * 2 - 1) * COARSE_MASK_LOGIT)[None]


def box_prompt(box: np.ndarray) -> PromptSet:
    return PromptSet(box.reshape(2, 2).astype(np.float32), np.array([2, 3], np.int32))


def sample_training_prompt(
    mask: np.ndarray,
    rng: np.random.Generator,
    image_size: int,
    type_weights=(0.4, 0.4, 0.2),
    max_points: int = 10,
) -> PromptSet:
    """One mixed prompt for an object: a noisy box, 1-``max_points`` clicks (a third of the time with some
    negatives), or a coarse mask (half the time with one positive click). ``mask`` is [S, S] bool."""
    kind = PROMPT_TYPES[int(rng.choice(3, p=np.asarray(type_weights) / np.sum(type_weights)))]
    if kind == "box":
        return box_prompt(noisy_box(mask, rng))
    if kind == "points":
        n = int(rng.integers(1, max_points + 1))
        n_neg = int(rng.integers(1, n)) if n > 1 and rng.random() < 1 / 3 else 0
        coords, labels = sample_points(mask, rng, n - n_neg, n_neg)
        return PromptSet(coords, labels)
    logits = coarse_mask_logits(mask, rng, image_size // 4)
    if rng.random() < 0.5:
        coords, labels = sample_points(mask, rng, 1)
        return PromptSet(coords, labels, logits)
    return PromptSet(np.zeros((0, 2), np.float32), np.zeros((0,), np.int32), logits)


@dataclass
class PromptBatch:
    """Prompt sets of one image stacked for one ``predict_masks`` call (all with, or all without, a mask).

    coords [N, P, 2] (padded with label -1), labels [N, P] or None when no set has points,
    mask_input [N, 1, S/4, S/4] or None; rows: which of the input sets each row is.
    """

    coords: torch.Tensor | None
    labels: torch.Tensor | None
    mask_input: torch.Tensor | None
    rows: list[int]
    multimask: bool = False  # ask SAM 2 for its three candidates (one-click prompts, SAM 2's policy)


def is_ambiguous(prompt: PromptSet, min_points: int = 1, max_points: int = 1) -> bool:
    """SAM 2's policy for multimask output (``SAM2Base._use_multimask``: ``multimask_min_pt_num <= points <=
    multimask_max_pt_num``, 0 and 1 in every SAM 2.1 config), counting box corners as points as SAM 2 does. A
    coarse mask alone (0 points) stays single: SAM 2 never decodes one (its video path uses the mask itself), and
    our predictor's callers ask for one mask with it."""
    return max(1, min_points) <= prompt.num_points <= max_points


def stack_prompts(
    prompts: list[PromptSet], device, multimask_points: tuple[int, int] | None = None
) -> list[PromptBatch]:
    """Groups prompt sets into batches that share one ``predict_masks`` call: with or without a mask prompt (SAM 2's
    prompt encoder takes a mask for every row of a call or for none) and, when ``multimask_points`` gives SAM 2's
    (min, max) point counts, ambiguous or not (``is_ambiguous``)."""
    batches = []
    groups = [(m, a) for m in (False, True) for a in ((False, True) if multimask_points else (False,))]
    for with_mask, ambiguous in groups:
        rows = [
            i
            for i, p in enumerate(prompts)
            if (p.mask_logits is not None) == with_mask
            and (bool(multimask_points) and is_ambiguous(p, *multimask_points)) == ambiguous
        ]
        if not rows:
            continue
        width = max(prompts[i].num_points for i in rows)
        coords = labels = None
        if width:
            coords = np.zeros((len(rows), width, 2), np.float32)
            labels = np.full((len(rows), width), PAD_LABEL, np.int32)
            for r, i in enumerate(rows):
                n = prompts[i].num_points
                coords[r, :n], labels[r, :n] = prompts[i].coords, prompts[i].labels
            coords, labels = torch.from_numpy(coords).to(device), torch.from_numpy(labels).to(device)
        masks = None
        if with_mask:
            masks = torch.from_numpy(np.stack([prompts[i].mask_logits for i in rows])).to(device)
        batches.append(PromptBatch(coords, labels, masks, rows, ambiguous))
    return batches


def interior_point(mask: np.ndarray) -> np.ndarray:
    """The mask pixel farthest from its boundary ([2] x, y pixel centre): the usual first evaluation click."""
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return np.array([x + 0.5, y + 0.5], np.float32)


def evaluation_points(mask: np.ndarray, num_points: int, seed: int) -> np.ndarray:
    """Table 3's clicks from the GT: the most interior pixel, then ``num_points - 1`` positives drawn from the
    mask with a fixed seed. Returns coords [num_points, 2] in the mask's own pixels."""
    first = interior_point(mask)[None]
    if num_points == 1:
        return first
    rest, _ = sample_points(mask, np.random.default_rng(seed), num_points - 1)
    return np.concatenate([first, rest])


__all__ = [
    "PROMPT_TYPES",
    "PromptSet",
    "PromptBatch",
    "mask_box",
    "noisy_box",
    "sample_points",
    "coarse_mask_logits",
    "box_prompt",
    "sample_training_prompt",
    "stack_prompts",
    "is_ambiguous",
    "interior_point",
    "evaluation_points",
]
