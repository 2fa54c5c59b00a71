"""The one prompt validation layer: pure checks of points, labels, boxes, mask prompts and prompt counts.

The image predictor, the video tracker, ``POST /segment`` and the video WebSocket all validate through these
functions; each raises ``InvalidInputError(argument, message)`` with the argument named as the caller names it
(the service passes ``objects.0.points`` where the predictor says ``point_coords``), so a caller maps errors
without knowing which check failed.

    coords, labels = check_points(points, labels, (h, w))           # [N, P, 2] float64, [N, P] int64
    boxes = check_boxes(box, (h, w))                                # [N, 4]; with hw: overlaps the image
    check_object_prompts(points, labels, box, mask, where="objects.0")    # which prompts go together
    check_counts([3, None, 1], PromptLimits(max_objects=32, max_points=64))
    coords_t, labels_t = prompt_tokens(coords, labels, boxes, (h, w), image_size, device)   # SAM 2's input frame
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InvalidInputError

POSITIVE, NEGATIVE, PADDING = 1, 0, -1


@dataclass(frozen=True)
class PromptLimits:
    """Caps on one request's (or message's) prompts; None = no cap."""

    max_objects: int | None = None
    max_points: int | None = None


def as_finite_array(value, argument: str, dtype=np.float64) -> np.ndarray:
    """``value`` (nested lists, numpy or torch) as a numpy array of finite numbers."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidInputError(argument, f"not numeric: {e}") from e
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(argument, "contains NaN or infinite values")
    return arr


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def check_object_prompts(
    points,
    labels,
    box,
    mask,
    *,
    mask_logits=None,
    where: str = "",
    names: tuple[str, str, str, str] = ("points", "labels", "box", "mask"),
    none_arg: str | None = None,
) -> None:
    """Which prompts one object may combine: labels with points, a mask or its logits (not both), at least one
    prompt. Checks presence only; ``check_points`` / ``check_boxes`` check the values."""
    p_arg, l_arg, b_arg, m_arg = (_join(where, n) for n in names)
    p_name, l_name, b_name, m_name = names
    if points is None and labels is not None:
        raise InvalidInputError(p_arg, f"{l_name} were given without {p_name}")
    if points is not None and labels is None:
        raise InvalidInputError(l_arg, f"{p_name} were given without {l_name}: give one label (1 or 0) per point")
    if mask is not None and mask_logits is not None:
        raise InvalidInputError(m_arg, f"give {m_name} or its logits id, not both")
    if points is None and box is None and mask is None and mask_logits is None:
        raise InvalidInputError(none_arg or p_arg, f"give at least one of {p_name}/{l_name}, {b_name} or {m_name}")


def check_counts(point_counts: Sequence[int | None], limits: PromptLimits, where: str = "objects") -> None:
    """At most ``limits.max_objects`` objects and ``limits.max_points`` points per object (None: no points)."""
    if limits.max_objects is not None and len(point_counts) > limits.max_objects:
        raise InvalidInputError(where, f"{len(point_counts)} objects; at most {limits.max_objects} per request")
    for i, n in enumerate(point_counts):
        check_point_count(n, limits.max_points, f"{where}.{i}.points")


def check_point_count(n: int | None, max_points: int | None, argument: str = "points") -> None:
    """One object's ``n`` points (None: no points) against ``max_points`` (None: no cap)."""
    if max_points is not None and n is not None and n > max_points:
        raise InvalidInputError(argument, f"{n} points; at most {max_points} per object")


def check_points(
    points,
    labels,
    hw: tuple[int, int] | None,
    *,
    normalized: bool = False,
    padding: bool = False,
    points_arg: str = "points",
    labels_arg: str = "labels",
) -> tuple[np.ndarray, np.ndarray]:
    """Points [P, 2] or [N, P, 2] (x, y) with labels [P] or [N, P] -> ([N, P, 2] float64, [N, P] int64).

    Labels are 1 (positive) or 0 (negative), and -1 (padding of unequal point lists) when ``padding``. Points lie
    in the ``hw`` = (height, width) image (pixels, edges included), or in [0, 1] when ``normalized``.
    """
    coords = as_finite_array(points, points_arg)
    if coords.ndim == 2:
        coords = coords[None]
    if coords.ndim != 3 or coords.shape[-1] != 2:
        raise InvalidInputError(points_arg, f"expected shape (P, 2) or (N, P, 2), got {np.shape(points)}")
    if coords.shape[0] == 0 or coords.shape[1] == 0:
        raise InvalidInputError(points_arg, "is empty; give at least one point or leave it out")
    values = as_finite_array(labels, labels_arg)
    if values.ndim == 1:
        values = values[None]
    if values.shape != coords.shape[:2]:
        raise InvalidInputError(labels_arg, f"shape {np.shape(labels)} does not match the points' {np.shape(points)}")
    if np.any(values != np.round(values)):
        raise InvalidInputError(labels_arg, "labels must be whole numbers")
    allowed = (POSITIVE, NEGATIVE, PADDING) if padding else (POSITIVE, NEGATIVE)
    bad = sorted(set(np.unique(values).astype(int).tolist()) - set(allowed))
    if bad:
        raise InvalidInputError(
            labels_arg,
            f"labels {bad} are not supported; use 1 (positive) or 0 (negative)"
            + (" or -1 (padding)" if padding else ""),
        )
    if np.all(values == PADDING):
        raise InvalidInputError(labels_arg, "every point is padding (-1)")
    limit = np.array([1.0, 1.0]) if normalized or hw is None else np.array([hw[1], hw[0]], np.float64)
    if normalized or hw is not None:
        outside = np.any((coords < 0) | (coords > limit), axis=-1).reshape(-1)
        if outside.any():
            k = int(np.argmax(outside))
            where = "is outside [0, 1] (normalised points)" if normalized else f"is outside the image ({hw[1]}x{hw[0]})"
            raise InvalidInputError(points_arg, f"point {k} {coords.reshape(-1, 2)[k].tolist()} {where}")
    return coords, values.astype(np.int64)


def check_boxes(box, hw: tuple[int, int] | None = None, argument: str = "box") -> np.ndarray:
    """A box [4] or boxes [N, 4] as x0, y0, x1, y1 -> [N, 4] float64, with x1 >= x0 and y1 >= y0; with ``hw``
    = (height, width) also overlapping the image (it may reach past its edges, as SAM 2's predictors allow)."""
    boxes = as_finite_array(box, argument)
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] == 0:
        raise InvalidInputError(argument, f"expected shape (4,) or (N, 4) as x0, y0, x1, y1; got {np.shape(box)}")
    if np.any(boxes[:, 2] < boxes[:, 0]):
        raise InvalidInputError(argument, "x1 < x0: a box is [x0, y0, x1, y1] with x1 >= x0")
    if np.any(boxes[:, 3] < boxes[:, 1]):
        raise InvalidInputError(argument, "y1 < y0: a box is [x0, y0, x1, y1] with y1 >= y0")
    if hw is not None:
        # A box may reach past the edges (dragged off the image, a detector's box): SAM 2 takes it as it is, and
        # so do we. One that misses the image altogether is a mistake (edges included, as for points).
        h, w = hw
        misses = (boxes[:, 0] > w) | (boxes[:, 2] < 0) | (boxes[:, 1] > h) | (boxes[:, 3] < 0)
        if misses.any():
            k = int(np.argmax(misses))
            raise InvalidInputError(argument, f"box {boxes[k].tolist()} does not overlap the image ({w}x{h})")
    return boxes


def check_mask_size(shape: Sequence[int], hw: tuple[int, int], argument: str = "mask") -> None:
    """A mask prompt covers the image: [height, width] equal to ``hw``."""
    if tuple(shape) != tuple(hw):
        raise InvalidInputError(argument, f"mask is [height, width] = {list(shape)}, the image is {list(hw)}")


def prompt_tokens(
    coords: np.ndarray | None,
    labels: np.ndarray | None,
    boxes: np.ndarray | None,
    orig_hw: tuple[int, int],
    image_size: int,
    device,
    normalized: bool = False,
):
    """Checked points and boxes as SAM 2's prompt encoder takes them: (coords [N, K, 2], labels [N, K]) tensors
    in encoder-input pixels, each box as two corner points (labels 2, 3) before the clicks."""
    h, w = orig_hw

    def to_input_frame(xy: np.ndarray) -> torch.Tensor:
        # Same operations, in the same order and precision, as SAM2Transforms.transform_coords.
        t = torch.as_tensor(xy, dtype=torch.float, device=device)
        if not normalized:
            t = t.clone()
            t[..., 0] = t[..., 0] / w
            t[..., 1] = t[..., 1] / h
        return t * image_size

    pt_coords = to_input_frame(coords) if coords is not None else None
    pt_labels = torch.as_tensor(labels, dtype=torch.int, device=device) if labels is not None else None
    if boxes is not None:
        box_coords = to_input_frame(boxes.reshape(-1, 2, 2))
        box_labels = torch.tensor([[2, 3]], dtype=torch.int, device=device).repeat(box_coords.shape[0], 1)
        pt_coords = box_coords if pt_coords is None else torch.cat([box_coords, pt_coords], dim=1)
        pt_labels = box_labels if pt_labels is None else torch.cat([box_labels, pt_labels], dim=1)
    return pt_coords, pt_labels
