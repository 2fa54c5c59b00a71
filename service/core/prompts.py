"""The service's side of the model's one prompt layer (``model/prompts.py``), the same for ``/segment``, the
video socket and ``/videos/{id}/prompts``: the limits from the settings, the checks that need no image (run before anything is decoded), and
the points and box against the image once its size is known.

Every check raises ``model.InvalidInputError`` naming the request field (``objects.0.box``); the app answers it as
422 ``invalid_field``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sam2refiner.model.prompts import (
    PromptLimits,
    check_boxes,
    check_counts,
    check_object_prompts,
    check_point_count,
    check_points,
)

from .settings import Settings


def prompt_limits(settings: Settings) -> PromptLimits:
    return PromptLimits(settings.max_objects, settings.max_points)


def check_prompt_set(objects: Sequence, limits: PromptLimits) -> None:
    """Counts, then which prompts each object combines (``points``, ``labels``, ``box``, ``mask`` and, where the
    request has one, ``mask_logits_id``): cheap, and before any image is decoded."""
    check_counts([None if o.points is None else len(o.points) for o in objects], limits)
    for i, o in enumerate(objects):
        check_object_prompts(
            o.points, o.labels, o.box, o.mask, mask_logits=getattr(o, "mask_logits_id", None), where=f"objects.{i}"
        )


def check_prompt(obj, limits: PromptLimits) -> None:
    """``check_prompt_set``'s checks for a request that is one object's prompt, its fields at the top of the body
    (``/videos/{id}/prompts``): its points' count, and which prompts it combines."""
    check_point_count(None if obj.points is None else len(obj.points), limits.max_points)
    check_object_prompts(obj.points, obj.labels, obj.box, obj.mask)


def check_geometry(
    points, labels, box, hw: tuple[int, int], where: str = ""
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """One object's points [P, 2] with labels [P], and box [4], checked against an image of ``hw`` = (height, width)
    pixels; None where the object has none. ``where`` prefixes the field names ("" for fields at the top)."""
    prefix = f"{where}." if where else ""
    coords = values = checked_box = None
    if points is not None:
        coords, values = check_points(points, labels, hw, points_arg=f"{prefix}points", labels_arg=f"{prefix}labels")
        coords, values = coords[0], values[0]
    if box is not None:
        checked_box = check_boxes(box, hw, f"{prefix}box")[0]
    return coords, values, checked_box
