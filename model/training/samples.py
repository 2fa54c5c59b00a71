"""From data set items to training samples: optional augmentation, size limits, soft targets at the encoder size.

A sample is a dict:
    image      uint8 [H, W, 3]  the (augmented) original, at most ``max_side`` on its longer side; the encoder
               input and Localization Augment's quadrants are made from it as the predictor makes them
    targets    float32 [K, S, S] soft GT masks at the encoder input size (area-resized, so thin parts survive)
    index      the data set index (the feature cache's key; only un-augmented samples are cached)
    augmented  bool
"""

from __future__ import annotations

import cv2
import numpy as np


def limit_side(image: np.ndarray, masks: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Downscales so the longer side is at most ``max_side`` (Localization Augment's quadrants are resized to the
    encoder size, so more than 2 x image_size adds no detail). masks bool [K, H, W] stay exact-ish (area > 0.5)."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image, masks
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    masks = np.stack([cv2.resize(m.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5 for m in masks])
    return image, masks


def augment(image: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip (p = 0.5) and a random zoom crop (60-100 % of each side) that keeps at least half of
    the objects' pixels, as a light version of HQ-SAM's flip + large-scale jitter."""
    if rng.random() < 0.5:
        image, masks = image[:, ::-1], masks[:, :, ::-1]
    h, w = image.shape[:2]
    ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    cropped = masks[:, y0 : y0 + ch, x0 : x0 + cw]
    kept = cropped.reshape(len(masks), -1).sum(1)
    if ch >= 8 and cw >= 8 and np.all(kept >= 0.5 * masks.reshape(len(masks), -1).sum(1)):
        image, masks = image[y0 : y0 + ch, x0 : x0 + cw], cropped
    return np.ascontiguousarray(image), np.ascontiguousarray(masks)


def soft_targets(masks: np.ndarray, size: int) -> np.ndarray:
    """bool [K, H, W] -> float32 [K, size, size] by area averaging (bilinear when enlarging)."""
    h, w = masks.shape[1:]
    interp = cv2.INTER_AREA if (h >= size and w >= size) else cv2.INTER_LINEAR
    return np.stack([cv2.resize(m.astype(np.float32), (size, size), interpolation=interp) for m in masks])


def make_sample(item: dict, image_size: int, max_side: int, augment_prob: float, rng: np.random.Generator) -> dict:
    image, masks = item["image"], np.asarray(item["masks"], bool)
    augmented = bool(rng.random() < augment_prob)
    if augmented:
        image, masks = augment(image, masks, rng)
    image, masks = limit_side(image, masks, max_side)
    targets = soft_targets(masks, image_size)
    # An object thinner than a pixel at the encoder size still has a soft target; one that vanished does not.
    targets = targets[targets.reshape(len(targets), -1).max(1) > 0]
    return {"image": image, "targets": targets, "index": int(item["index"]), "augmented": augmented}


class TrainingSamples:
    """Wraps a data set: item i of epoch e is a pure function of (seed, epoch, i), whatever the worker."""

    def __init__(self, dataset, image_size: int, max_side: int, augment_prob: float, seed: int):
        self.dataset, self.image_size, self.max_side = dataset, image_size, max_side
        self.augment_prob, self.seed, self.epoch = augment_prob, seed, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return make_sample(self.dataset[index], self.image_size, self.max_side, self.augment_prob, rng)


__all__ = ["TrainingSamples", "make_sample", "augment", "limit_side", "soft_targets"]
