"""A ``/segment`` request's prompts against its image -> ``PreparedObject``s (the checks that need no image ran
before it was decoded: ``core/prompts.check_prompt_set``)."""

from __future__ import annotations

from sam2refiner.model.prompts import check_mask_size

from ..core.masks import decode_rle
from ..core.prompts import check_geometry
from .engine import ImageEngine, PreparedObject
from .protocol import SegmentRequest


def prepare_objects(
    req: SegmentRequest, height: int, width: int, image_id: str, engine: ImageEngine
) -> list[PreparedObject]:
    """Validates every object's prompts against an image of ``height`` x ``width`` pixels."""
    prepared = []
    for i, obj in enumerate(req.objects):
        where = f"objects.{i}"
        out = PreparedObject()
        out.points, out.labels, out.box = check_geometry(obj.points, obj.labels, obj.box, (height, width), where)
        if obj.mask is not None:
            check_mask_size(obj.mask.size, (height, width), f"{where}.mask.size")
            out.mask = decode_rle(obj.mask.model_dump(), f"{where}.mask")
        if obj.mask_logits_id is not None:
            out.logits = engine.cached_logits(obj.mask_logits_id, image_id, f"{where}.mask_logits_id")
        prepared.append(out)
    return prepared
