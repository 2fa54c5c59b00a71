"""Test helpers for video: a synthetic clip, clicks on its objects, and sam2's own video predictor as reference."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from sam2refiner.model.training.synthetic import synthetic_video
from sam2refiner.model.transforms import prepare_image

SIZE = 256
# The options the brief asks for; corrections become conditioning frames, as in our tracker.
REFERENCE_OVERRIDES = [
    f"++model.image_size={SIZE}",
    f"++model.memory_attention.layer.self_attention.feat_sizes=[{SIZE // 16},{SIZE // 16}]",
    f"++model.memory_attention.layer.cross_attention.feat_sizes=[{SIZE // 16},{SIZE // 16}]",
    "++model.add_all_frames_to_correct_as_cond=true",
]


def clip(num_frames: int = 24, hw=(240, 320), seed: int = 5):
    """frames uint8 [T, H, W, 3] and masks bool [T, K, H, W] with at least two objects."""
    return synthetic_video(seed=seed, num_frames=num_frames, size=hw, num_objects=2, kinds=("holed",))


def click_on(mask: np.ndarray) -> list[list[float]]:
    """One positive click at the mask pixel nearest its centroid, as (x, y) in frame pixels."""
    ys, xs = np.nonzero(mask)
    i = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    return [[float(xs[i]), float(ys[i])]]


def reference_predictor(checkpoint: str):
    """sam2's own video predictor, as sam2 with its compiled extension runs it: hole filling included (the hook
    our SAM 2 builder installs too, ``sam2_compat.hooks``)."""
    from sam2.build_sam import build_sam2_video_predictor

    from sam2refiner.model.sam2_compat import install_hooks

    install_hooks()
    return build_sam2_video_predictor(
        "configs/sam2.1/sam2.1_hiera_t.yaml", checkpoint, device="cpu", hydra_overrides_extra=REFERENCE_OVERRIDES
    )


def reference_state(predictor, frames: np.ndarray, folder: Path):
    """sam2's inference state for ``frames``, with its images replaced by our preprocessed ones.

    sam2's loader resizes JPEGs with PIL; we overwrite ``images`` with the exact tensors our tracker encodes so
    the comparison tests the tracking, not two resizers. The JPEGs only give init_state a video to open.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{t:05d}.jpg"), frame[..., ::-1])
    state = predictor.init_state(str(folder))
    state["images"] = torch.stack([prepare_image(f, SIZE, "cpu")[0] for f in frames])
    state["cached_features"] = {}
    state["video_height"], state["video_width"] = frames.shape[1:3]
    return state


def propagate(predictor, state, **kwargs) -> dict[int, torch.Tensor]:
    """frame index -> [K, H, W] mask logits at video resolution."""
    return {t: masks[:, 0].clone() for t, _, masks in predictor.propagate_in_video(state, **kwargs)}
