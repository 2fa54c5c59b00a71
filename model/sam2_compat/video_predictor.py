"""sam2's own ``SAM2VideoPredictor`` over a model we already built, and frames from anywhere (not a JPEG folder).

    predictor = video_predictor(model.sam2, add_all_frames_to_correct_as_cond=True)
    state = inference_state(predictor, frames, height, width)      # frames: a sequence of [3, S, S] tensors
    predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[x, y]], labels=[1])
    for t, obj_ids, masks in predictor.propagate_in_video(state): ...

The predictor is a view of the built ``SAM2Base``: the same modules and weights (nothing copied, nothing loaded
twice), under sam2's predictor class, so every step (prompts, memory, propagation both ways, corrections) is
sam2's own code. ``load_frame`` reads one JPEG the way sam2's ``load_video_frames`` reads a frame folder.
"""

from __future__ import annotations

import copy
import io
from collections import OrderedDict

import torch
from sam2.sam2_video_predictor import SAM2VideoPredictor
from sam2.utils.misc import _load_img_as_tensor

from .fill_holes import SAM2_VIDEO_FILL_HOLE_AREA
from .hooks import promote_memory_dtype
from .private import consolidate_temp_output_across_obj, get_image_feature, get_orig_video_res_output

# sam2's load_video_frames normalises with these (its defaults), in float32.
_MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32)[:, None, None]
_STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32)[:, None, None]

# The keys sam2's init_state lays out (tests/model/sam2_compat check them against a real init_state).
STATE_KEYS = (
    "images",
    "num_frames",
    "offload_video_to_cpu",
    "offload_state_to_cpu",
    "video_height",
    "video_width",
    "device",
    "storage_device",
    "point_inputs_per_obj",
    "mask_inputs_per_obj",
    "cached_features",
    "constants",
    "obj_id_to_idx",
    "obj_idx_to_id",
    "obj_ids",
    "output_dict_per_obj",
    "temp_output_dict_per_obj",
    "frames_tracked_per_obj",
)


def video_predictor(
    sam2,
    *,
    fill_hole_area: int = SAM2_VIDEO_FILL_HOLE_AREA,
    add_all_frames_to_correct_as_cond: bool = True,
    non_overlap_masks: bool = False,
) -> SAM2VideoPredictor:
    """A ``SAM2VideoPredictor`` sharing ``sam2``'s modules (a shallow copy whose class is sam2's predictor: the
    predictor adds no module of its own, only the four options set here, those of sam2's video builder)."""
    view = copy.copy(sam2)  # a new object whose module and parameter dicts are sam2's own
    # not the tracker's per-thread routing of this method (batched_tracking), bound to sam2 itself: the view's own
    vars(view).pop("_prepare_memory_conditioned_features", None)
    view.__class__ = SAM2VideoPredictor
    view.fill_hole_area = fill_hole_area
    view.non_overlap_masks = non_overlap_masks
    view.clear_non_cond_mem_around_input = False
    view.add_all_frames_to_correct_as_cond = add_all_frames_to_correct_as_cond
    promote_memory_dtype(view.memory_attention)  # an object tracked before its first prompt, on a CPU
    return view


def inference_state(predictor: SAM2VideoPredictor, images, height: int, width: int) -> dict:
    """An empty inference state as ``init_state`` lays it out, over ``images`` (anything indexable by frame that
    gives a [3, S, S] float tensor, loaded when read) instead of a folder loaded whole. Unlike ``init_state`` it runs
    no encoder pass (the first prompt or propagation step encodes the frame it needs)."""
    device = predictor.device
    state = {
        "images": images,
        "num_frames": len(images),
        "offload_video_to_cpu": True,
        "offload_state_to_cpu": False,
        "video_height": height,
        "video_width": width,
        "device": device,
        "storage_device": device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }
    assert tuple(state) == STATE_KEYS
    return state


def stored_video_res_masks(predictor: SAM2VideoPredictor, state: dict, *, frame_idx: int) -> torch.Tensor:
    """Every object's stored mask logits on a frame at the video's resolution [K, 1, H, W], as sam2 answers a
    prompt (``_consolidate_temp_output_across_obj`` + ``_get_orig_video_res_output``; no output: NO_OBJ_SCORE)."""
    consolidated = consolidate_temp_output_across_obj(
        predictor, inference_state=state, frame_idx=frame_idx, is_cond=False, consolidate_at_video_res=True
    )
    _, video_res = get_orig_video_res_output(
        predictor, inference_state=state, any_res_masks=consolidated["pred_masks_video_res"]
    )
    return video_res


def encode_frame(predictor: SAM2VideoPredictor, state: dict, *, frame_idx: int) -> None:
    """Runs the image encoder on a frame ahead of its tracking step: sam2 keeps the features in the state's cache,
    where the step finds them."""
    get_image_feature(predictor, inference_state=state, frame_idx=frame_idx, batch_size=1)


def load_frame(jpeg: bytes, image_size: int) -> tuple[torch.Tensor, int, int]:
    """One JPEG as sam2's ``load_video_frames`` reads a frame of a folder (PIL resize, float32, ImageNet mean and
    std). Returns ([3, S, S] float32, height, width)."""
    img, height, width = _load_img_as_tensor(io.BytesIO(jpeg), image_size)
    return (img.float() - _MEAN) / _STD, height, width


__all__ = ["STATE_KEYS", "encode_frame", "inference_state", "load_frame", "stored_video_res_masks", "video_predictor"]
