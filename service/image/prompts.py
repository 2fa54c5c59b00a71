"""Request prompts -> validated ``PreparedObject``s, through the model's one prompt layer (``model.prompts``).

Its checks raise ``model.InvalidInputError`` naming the request field (``objects.0.box``); the app's handler
answers them as 422 ``invalid_field``.
"""

from __future__ import annotations

from sam2refiner.model.prompts import (
    PromptLimits,
    check_boxes,
    check_counts,
    check_mask_size,
    check_object_prompts,
    check_points,
)

from ..core.masks import decode_rle
from ..core.settings import Settings
from .engine import InferenceEngine, PreparedObject
from .protocol import SegmentRequest


def prompt_limits(settings: Settings) -> PromptLimits:
    return PromptLimits(settings.max_objects, settings.max_points)


def check_limits(req: SegmentRequest, settings: Settings) -> None:
    """Cheap checks that need no image (counts, which prompts go together): run them before decoding anything."""
    check_counts([None if o.points is None else len(o.points) for o in req.objects], prompt_limits(settings))
    for i, obj in enumerate(req.objects):
        check_object_prompts(
            obj.points, obj.labels, obj.box, obj.mask, mask_logits=obj.mask_logits_id, where=f"objects.{i}"
        )


def prepare_objects(
    req: SegmentRequest, height: int, width: int, image_id: str, engine: InferenceEngine
) -> list[PreparedObject]:
    """Validates every object's prompts against an image of ``height`` x ``width`` pixels."""
    prepared = []
    for i, obj in enumerate(req.objects):
        where = f"objects.{i}"
        out = PreparedObject()
        if obj.points is not None:
            points, labels = check_points(
                obj.points, obj.labels, (height, width), points_arg=f"{where}.points", labels_arg=f"{where}.labels"
            )
            out.points, out.labels = points[0], labels[0]
        if obj.box is not None:
            out.box = check_boxes(obj.box, (height, width), f"{where}.box")[0]
        if obj.mask is not None:
            check_mask_size(obj.mask.size, (height, width), f"{where}.mask.size")
            out.mask = decode_rle(obj.mask.model_dump(), f"{where}.mask")
        if obj.mask_logits_id is not None:
            out.logits = engine.cached_logits(obj.mask_logits_id, image_id, f"{where}.mask_logits_id")
        prepared.append(out)
    return prepared
