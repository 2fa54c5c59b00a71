"""Every private sam2 method the project calls, behind a wrapper that takes keyword arguments only.

    _, sam_outputs, _, _ = track_step(sam2, frame_idx=t, is_init_cond_frame=True, ...)

Private methods may change in any rf-sam-2 release without notice. Called through these wrappers, by their
parameter names, a renamed or reordered parameter fails with a TypeError instead of silently passing a value to
the wrong place, and ``PRIVATE_METHODS`` (checked against the installed sam2 by
``tests/model/sam2_compat/test_private_api.py`` with ``inspect.signature``) names each method and the parameters
we rely on, so an upgrade that changes one fails that test with the method's name.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass


@dataclass(frozen=True)
class PrivateMethod:
    owner: str  # "module:Class"
    name: str
    parameters: tuple[str, ...]  # in order, without self

    def resolve(self):
        module, cls = self.owner.split(":")
        return getattr(getattr(importlib.import_module(module), cls), self.name)


PRIVATE_METHODS = (
    PrivateMethod("sam2.modeling.sam2_base:SAM2Base", "_prepare_backbone_features", ("backbone_out",)),
    PrivateMethod(
        "sam2.modeling.sam2_base:SAM2Base",
        "_track_step",
        (
            "frame_idx",
            "is_init_cond_frame",
            "current_vision_feats",
            "current_vision_pos_embeds",
            "feat_sizes",
            "point_inputs",
            "mask_inputs",
            "output_dict",
            "num_frames",
            "track_in_reverse",
            "prev_sam_mask_logits",
        ),
    ),
    PrivateMethod(
        "sam2.modeling.sam2_base:SAM2Base",
        "_prepare_memory_conditioned_features",
        (
            "frame_idx",
            "is_init_cond_frame",
            "current_vision_feats",
            "current_vision_pos_embeds",
            "feat_sizes",
            "output_dict",
            "num_frames",
            "track_in_reverse",
        ),
    ),
    PrivateMethod(
        "sam2.modeling.sam2_base:SAM2Base",
        "_encode_new_memory",
        ("current_vision_feats", "feat_sizes", "pred_masks_high_res", "object_score_logits", "is_mask_from_pts"),
    ),
    PrivateMethod("sam2.modeling.position_encoding:PositionEmbeddingSine", "_encode_xy", ("x", "y")),
    PrivateMethod(
        "sam2.modeling.sam.mask_decoder:MaskDecoder",
        "_dynamic_multimask_via_stability",
        ("all_mask_logits", "all_iou_scores"),
    ),
    # video_predictor.py (file sessions)
    PrivateMethod(
        "sam2.sam2_video_predictor:SAM2VideoPredictor",
        "_consolidate_temp_output_across_obj",
        ("inference_state", "frame_idx", "is_cond", "consolidate_at_video_res"),
    ),
    PrivateMethod(
        "sam2.sam2_video_predictor:SAM2VideoPredictor",
        "_get_orig_video_res_output",
        ("inference_state", "any_res_masks"),
    ),
    PrivateMethod(
        "sam2.sam2_video_predictor:SAM2VideoPredictor",
        "_get_image_feature",
        ("inference_state", "frame_idx", "batch_size"),
    ),
)


def signature_mismatches() -> list[str]:
    """How the installed sam2 differs from ``PRIVATE_METHODS``, one line per method; empty when it fits."""
    problems = []
    for method in PRIVATE_METHODS:
        where = f"{method.owner.replace(':', '.')}.{method.name}"
        try:
            found = tuple(inspect.signature(method.resolve()).parameters)[1:]  # without self
        except (ImportError, AttributeError) as e:
            problems.append(f"{where}: not found in the installed sam2 ({e})")
            continue
        if found != method.parameters:
            problems.append(f"{where}: parameters {found}, the wrapper passes {method.parameters}")
    return problems


_PARAMETERS = {method.name: method.parameters for method in PRIVATE_METHODS}


def _call(obj, name: str, arguments: dict):
    """``obj.<name>(...)`` with the parameters ``PRIVATE_METHODS`` lists for it, by name, their values taken from
    ``arguments`` (the wrapper's ``locals()``): a wrapper's body never lists them again (the test checks each
    wrapper's signature against the table)."""
    return getattr(obj, name)(**{p: arguments[p] for p in _PARAMETERS[name]})


def prepare_backbone_features(sam2, *, backbone_out: dict):
    """``SAM2Base._prepare_backbone_features``: the encoder's levels flattened to sam2's tracking layout.
    Returns (backbone_out, vision_feats [(HW), B, C] per level, vision_pos_embeds, feat_sizes)."""
    return _call(sam2, "_prepare_backbone_features", locals())


def track_step(
    sam2,
    *,
    frame_idx: int,
    is_init_cond_frame: bool,
    current_vision_feats,
    current_vision_pos_embeds,
    feat_sizes,
    point_inputs: dict | None,
    mask_inputs,
    output_dict: dict,
    num_frames: int,
    track_in_reverse: bool = False,
    prev_sam_mask_logits=None,
):
    """``SAM2Base._track_step``: memory attention (or the initial conditioning path) and the SAM heads on one
    frame. Returns (current_out, sam_outputs, high_res_features, pix_feat); sam_outputs is
    (low_res_multimasks, high_res_multimasks, ious, low_res_masks, high_res_masks, obj_ptr, object_score_logits).
    """
    return _call(sam2, "_track_step", locals())


def prepare_memory_conditioned_features(
    sam2,
    *,
    frame_idx: int,
    is_init_cond_frame: bool,
    current_vision_feats,
    current_vision_pos_embeds,
    feat_sizes,
    output_dict: dict,
    num_frames: int,
    track_in_reverse: bool = False,
):
    """``SAM2Base._prepare_memory_conditioned_features``: gathers one frame's memory from ``output_dict`` and runs
    memory attention on it. Returns the memory-conditioned feature [B, C, H, W]."""
    return _call(sam2, "_prepare_memory_conditioned_features", locals())


def encode_new_memory(
    sam2, *, current_vision_feats, feat_sizes, pred_masks_high_res, object_score_logits, is_mask_from_pts: bool
):
    """``SAM2Base._encode_new_memory``: the memory encoder on one frame's mask. Returns (maskmem_features,
    maskmem_pos_enc)."""
    return _call(sam2, "_encode_new_memory", locals())


def encode_xy(position_encoding, *, x, y):
    """``PositionEmbeddingSine._encode_xy``: sine encodings (pos_x, pos_y) [K, C/2] of normalised positions [K]
    (scaled by 2 pi inside, as the encoding of a feature map)."""
    return _call(position_encoding, "_encode_xy", locals())


def dynamic_multimask_via_stability(mask_decoder, *, all_mask_logits, all_iou_scores):
    """``MaskDecoder._dynamic_multimask_via_stability``: the single-mask answer SAM 2 gives in eval mode (token 0,
    or the best multimask token when token 0's mask is unstable) from all four tokens' logits and IoUs."""
    return _call(mask_decoder, "_dynamic_multimask_via_stability", locals())


def consolidate_temp_output_across_obj(
    predictor, *, inference_state: dict, frame_idx: int, is_cond: bool, consolidate_at_video_res: bool
) -> dict:
    """``SAM2VideoPredictor._consolidate_temp_output_across_obj``: every object's latest output on a frame in one
    batch (an object without one: NO_OBJ_SCORE); at video resolution under ``pred_masks_video_res``."""
    return _call(predictor, "_consolidate_temp_output_across_obj", locals())


def get_orig_video_res_output(predictor, *, inference_state: dict, any_res_masks):
    """``SAM2VideoPredictor._get_orig_video_res_output``: (masks, masks resized to the video's resolution)."""
    return _call(predictor, "_get_orig_video_res_output", locals())


def get_image_feature(predictor, *, inference_state: dict, frame_idx: int, batch_size: int):
    """``SAM2VideoPredictor._get_image_feature``: a frame's encoder features, from the state's one-frame cache or
    computed (and then cached there)."""
    return _call(predictor, "_get_image_feature", locals())


__all__ = [
    "PRIVATE_METHODS",
    "get_image_feature",
    "dynamic_multimask_via_stability",
    "consolidate_temp_output_across_obj",
    "get_orig_video_res_output",
    "PrivateMethod",
    "encode_new_memory",
    "encode_xy",
    "prepare_backbone_features",
    "prepare_memory_conditioned_features",
    "signature_mismatches",
    "track_step",
]
