"""Request prompts -> validated ``PreparedObject``s, checked against the image they are for and the limits."""

from __future__ import annotations

import numpy as np

from .errors import InvalidFieldError
from .inference import InferenceEngine, PreparedObject
from .mask_codecs import decode_rle
from .schemas import SegmentRequest
from .settings import Settings


def check_limits(req: SegmentRequest, settings: Settings) -> None:
    """Cheap checks that need no image: run them before decoding anything."""
    if len(req.objects) > settings.max_objects:
        raise InvalidFieldError("objects", f"{len(req.objects)} objects; at most {settings.max_objects} per request")
    for i, obj in enumerate(req.objects):
        if obj.points is not None and len(obj.points) > settings.max_points:
            raise InvalidFieldError(f"objects.{i}.points", f"{len(obj.points)} points; at most {settings.max_points} per object")


def prepare_objects(req: SegmentRequest, height: int, width: int, image_id: str, engine: InferenceEngine) -> list[PreparedObject]:
    """Validates every object's prompts against an image of ``height`` x ``width`` pixels."""
    prepared = []
    for i, obj in enumerate(req.objects):
        where = f"objects.{i}"
        out = PreparedObject()
        if obj.points is not None:
            pts = np.asarray(obj.points, np.float64)
            outside = (pts[:, 0] < 0) | (pts[:, 0] > width) | (pts[:, 1] < 0) | (pts[:, 1] > height)
            if outside.any():
                k = int(np.argmax(outside))
                raise InvalidFieldError(f"{where}.points", f"point {k} {obj.points[k]} is outside the {width}x{height} image")
            out.points, out.labels = pts, np.asarray(obj.labels, np.int64)
        if obj.box is not None:
            box = np.asarray(obj.box, np.float64)
            if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                raise InvalidFieldError(f"{where}.box", f"box {list(obj.box)} reaches outside the {width}x{height} image")
            out.box = box
        if obj.mask is not None:
            if tuple(obj.mask.size) != (height, width):
                raise InvalidFieldError(f"{where}.mask.size", f"RLE size {list(obj.mask.size)} is not the image's [height, width] = [{height}, {width}]")
            out.mask = decode_rle(obj.mask.model_dump(), f"{where}.mask")
        if obj.mask_logits_id is not None:
            out.logits = engine.cached_logits(obj.mask_logits_id, image_id, f"{where}.mask_logits_id")
        prepared.append(out)
    return prepared
