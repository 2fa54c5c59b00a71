"""Label Studio's JSON <-> this service's prompts and masks.

Label Studio sends regions in percent of the image (``x``, ``y``, ``width``, ``height`` in 0..100) and expects
the same back. In:

- ``keypointlabels`` regions are clicks; a smart keypoint drawn as negative carries ``"is_positive": false``;
- ``rectanglelabels`` regions are boxes;
- ``videorectangle`` regions are keyframed boxes: ``value.sequence`` = [{frame (1-based), x, y, width, height,
  enabled}, ...].

Out: ``brushlabels`` regions in Label Studio's brush RLE (``brush.py``), ``polygonlabels`` regions (the mask's
outer contours), and ``videorectangle`` regions with a box on every tracked frame.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...core.errors import InvalidFieldError
from ...core.masks import encode_polygons
from .brush import mask_to_rle
from .config import ControlTag, LabelConfig, ObjectTag, output_label

PROMPT_TYPES = ("keypointlabels", "rectanglelabels")
VIDEO_TYPES = ("videorectangle",)


# ---------------------------------------------------------------------------------------------- requests
class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")  # Label Studio adds fields between releases: ignore what we do not use


class PredictParams(_Lenient):
    context: dict | None = None


class PredictRequest(_Lenient):
    tasks: list[dict] = Field(min_length=1)
    label_config: str = Field(min_length=1)
    project: str | None = None
    params: PredictParams = Field(default_factory=PredictParams)


class SetupRequest(_Lenient):
    project: str | None = None
    label_config: str = Field(alias="schema", min_length=1)
    extra_params: dict | None = None


def project_id(project: str | None) -> str | None:
    """Label Studio names a project "<id>.<created timestamp>"."""
    return project.split(".", 1)[0] if project else None


# ---------------------------------------------------------------------------------------------- image prompts
@dataclass
class ImageObject:
    """One object to segment, in pixels of the image."""

    points: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: list[float] | None = None
    label: str | None = None  # the prompt region's label, carried to the answer
    where: str = "context.result"

    def key(self, drop_last_point: bool = False) -> tuple:
        """What identifies the object's prompts (the previous click's when ``drop_last_point``)."""
        n = len(self.points) - (1 if drop_last_point else 0)
        points = tuple((round(x, 3), round(y, 3), v) for (x, y), v in zip(self.points[:n], self.labels[:n]))
        return points, None if self.box is None else tuple(round(v, 3) for v in self.box)


def context_objects(results: list, config: LabelConfig, hw: tuple[int, int]) -> tuple[ObjectTag, list[ImageObject]]:
    """A smart tool's regions -> the image they are on and the objects to segment: every click (and at most one
    box) make one object; boxes alone make one object each."""
    image: ObjectTag | None = None
    clicks = ImageObject(where="context.result")
    boxes: list[ImageObject] = []
    for i, region in enumerate(results):
        where = f"context.result.{i}"
        kind = _region_type(region, where)
        if kind not in PROMPT_TYPES:
            raise InvalidFieldError(
                f"{where}.type",
                f"{kind!r} is not a prompt this backend takes on images (it takes {', '.join(PROMPT_TYPES)})",
            )
        control = config.control(str(region.get("from_name")), f"{where}.from_name")
        obj_tag = config.object_of(control, f"{where}.to_name")
        if image is not None and obj_tag.name != image.name:
            raise InvalidFieldError(f"{where}.to_name", "all prompts of one request must be on the same image")
        image = obj_tag
        value = _value(region, where)
        label = _first_label(value, kind)
        if kind == "keypointlabels":
            clicks.points.append(_point(value, hw, where))
            clicks.labels.append(0 if region.get("is_positive") is False else 1)
            clicks.label = clicks.label or label
        else:
            boxes.append(ImageObject(box=_box(value, hw, where), label=label, where=where))
    if image is None:
        raise InvalidFieldError("context.result", "no prompt: send at least one keypoint or rectangle")
    if clicks.points:
        if len(boxes) > 1:
            raise InvalidFieldError("context.result", "clicks combine with at most one box")
        if boxes:
            clicks.box, clicks.label = boxes[0].box, clicks.label or boxes[0].label
        return image, [clicks]
    return image, boxes


def task_boxes(task: dict, config: LabelConfig, image: ObjectTag, hw: tuple[int, int], where: str) -> list[ImageObject]:
    """The boxes a task already holds on ``image`` (its latest annotation, else its predictions) as objects."""
    for source in ("annotations", "predictions"):
        entries = task.get(source)
        if not isinstance(entries, list):
            continue
        for k in reversed(range(len(entries))):
            entry = entries[k]
            results = entry.get("result") if isinstance(entry, dict) else None
            results = results if isinstance(results, list) else []
            boxes = [
                ImageObject(
                    box=_box(_value(r, f"{where}.{source}.{k}.result.{i}"), hw, f"{where}.{source}.{k}.result.{i}"),
                    label=_first_label(r.get("value") or {}, "rectanglelabels"),
                    where=f"{where}.{source}.{k}.result.{i}",
                )
                for i, r in enumerate(results)
                if isinstance(r, dict)
                and r.get("type") == "rectanglelabels"
                and config.controls.get(str(r.get("from_name"))) is not None
                and config.controls[str(r.get("from_name"))].to_name == image.name
            ]
            if boxes:
                return boxes
    return []


# ---------------------------------------------------------------------------------------------- image answers
def mask_regions(
    mask: np.ndarray, score: float, obj: ImageObject, outputs: list[ControlTag], image: ObjectTag
) -> list[dict]:
    """One object's mask as a region in each answer tag: brush RLE, and/or polygons in percent."""
    h, w = mask.shape
    common = {"to_name": image.name, "original_width": w, "original_height": h, "image_rotation": 0}
    regions = []
    for control in outputs:
        base = {**common, "from_name": control.name, "type": control.kind, "score": score, "readonly": False}
        labels = output_label(control, obj.label)
        if control.kind == "brushlabels":
            value = {"format": "rle", "rle": mask_to_rle(mask), "brushlabels": labels}
            regions.append({"id": _region_id(), **base, "value": value})
        else:
            for polygon in encode_polygons(mask):
                if len(polygon) < 6:  # fewer than three points is no area
                    continue
                points = [[100.0 * x / w, 100.0 * y / h] for x, y in zip(polygon[0::2], polygon[1::2])]
                value = {"points": points, "polygonlabels": labels, "closed": True}
                regions.append({"id": _region_id(), **base, "value": value})
    return regions


def prediction(regions: list[dict], scores: list[float], model_version: str) -> dict:
    return {"result": regions, "score": float(np.mean(scores)) if scores else 0.0, "model_version": model_version}


# ---------------------------------------------------------------------------------------------- video
@dataclass
class VideoTrack:
    """One video rectangle region: its keyframes (0-based frame -> box in pixels once the size is known)."""

    region_id: str
    control: ControlTag
    labels: list[str]
    keyframes: dict[int, tuple[float, float, float, float]]  # 0-based frame -> (x, y, width, height) in percent
    frames_count: int | None = None
    duration: float | None = None


def video_tracks(regions: list, config: LabelConfig, where: str) -> tuple[ObjectTag, list[VideoTrack]]:
    """Video rectangle regions -> the video they are on and one track per region, from its enabled keyframes."""
    video: ObjectTag | None = None
    tracks = []
    for i, region in enumerate(regions):
        at = f"{where}.{i}"
        kind = _region_type(region, at)
        if kind not in VIDEO_TYPES:
            raise InvalidFieldError(
                f"{at}.type", f"{kind!r} is not a prompt this backend takes on videos (it takes videorectangle)"
            )
        control = config.control(str(region.get("from_name")), f"{at}.from_name")
        obj_tag = config.object_of(control, f"{at}.to_name")
        if obj_tag.kind != "video" or (video is not None and obj_tag.name != video.name):
            raise InvalidFieldError(f"{at}.to_name", "video rectangles must all be on the one <Video>")
        video = obj_tag
        value = _value(region, at)
        sequence = value.get("sequence")
        if not isinstance(sequence, list) or not sequence:
            raise InvalidFieldError(f"{at}.value.sequence", "a video rectangle needs at least one keyframe")
        keyframes = {}
        for k, item in enumerate(sequence):
            if not isinstance(item, dict) or item.get("enabled", True) is False:
                continue
            frame = item.get("frame")
            if not isinstance(frame, int) or frame < 1:
                raise InvalidFieldError(f"{at}.value.sequence.{k}.frame", "frames are counted from 1")
            keyframes[frame - 1] = tuple(_percent(item, key, f"{at}.value.sequence.{k}") for key in _BOX_KEYS)
        if not keyframes:
            raise InvalidFieldError(f"{at}.value.sequence", "no enabled keyframe")
        labels = value.get("labels") if isinstance(value.get("labels"), list) else []
        tracks.append(
            VideoTrack(
                str(region.get("id") or _region_id()),
                control,
                [str(v) for v in labels],
                keyframes,
                value.get("framesCount") if isinstance(value.get("framesCount"), int) else None,
                value.get("duration") if isinstance(value.get("duration"), (int, float)) else None,
            )
        )
    if video is None:
        raise InvalidFieldError(where, "no video rectangle to track")
    return video, tracks


def task_video_regions(task: dict, config: LabelConfig) -> tuple[list, str]:
    """The video rectangles a task already holds (its latest annotation, else its predictions)."""
    for source in ("annotations", "predictions"):
        entries = task.get(source)
        if not isinstance(entries, list):
            continue
        for k in reversed(range(len(entries))):
            results = entries[k].get("result") if isinstance(entries[k], dict) else None
            results = results if isinstance(results, list) else []
            regions = [r for r in results if isinstance(r, dict) and r.get("type") == "videorectangle"]
            if regions:
                return regions, f"tasks.0.{source}.{k}.result"
    return [], ""


def box_percent(box_px: tuple[float, float, float, float], hw: tuple[int, int]) -> tuple[float, ...]:
    """(x0, y0, x1, y1) in pixels -> (x, y, width, height) in percent."""
    h, w = hw
    x0, y0, x1, y1 = box_px
    return 100.0 * x0 / w, 100.0 * y0 / h, 100.0 * (x1 - x0) / w, 100.0 * (y1 - y0) / h


def box_pixels(box_pct: tuple[float, ...], hw: tuple[int, int]) -> list[float]:
    """(x, y, width, height) in percent -> [x0, y0, x1, y1] in pixels."""
    h, w = hw
    x, y, bw, bh = box_pct
    return [x * w / 100.0, y * h / 100.0, (x + bw) * w / 100.0, (y + bh) * h / 100.0]


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The box around a mask's pixels, (x0, y0, x1, y1) with x1, y1 past the last pixel; None when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def video_region(
    track: VideoTrack, video: ObjectTag, boxes: dict[int, tuple | None], fps: float, frames_count: int, hw
) -> dict:
    """A track's region: its own keyframes as they were, then the tracked box on every other frame; a frame where
    the object is gone ends the box (``enabled: false``) until it is seen again."""
    sequence, visible = [], False
    for frame in sorted(set(boxes) | set(track.keyframes)):
        if frame in track.keyframes:
            x, y, bw, bh = track.keyframes[frame]
            enabled = True
        elif boxes.get(frame) is not None:
            x, y, bw, bh = box_percent(boxes[frame], hw)
            enabled = True
        elif visible:
            x, y, bw, bh = sequence[-1]["x"], sequence[-1]["y"], sequence[-1]["width"], sequence[-1]["height"]
            enabled = False
        else:
            continue
        visible = enabled
        item = {"frame": frame + 1, "enabled": enabled, "rotation": 0, "x": x, "y": y, "width": bw, "height": bh}
        sequence.append({**item, "time": frame / fps})
    value = {
        "sequence": sequence,
        "labels": track.labels,
        "framesCount": track.frames_count or frames_count,
        "duration": track.duration or (frames_count / fps),
    }
    return {
        "id": track.region_id,
        "from_name": track.control.name,
        "to_name": video.name,
        "type": "videorectangle",
        "origin": "prediction",
        "value": value,
    }


# ---------------------------------------------------------------------------------------------- helpers
_BOX_KEYS = ("x", "y", "width", "height")


def _region_type(region: Any, where: str) -> str:
    if not isinstance(region, dict):
        raise InvalidFieldError(where, "a region must be an object")
    kind = region.get("type")
    if not isinstance(kind, str):
        raise InvalidFieldError(f"{where}.type", "missing")
    return kind.lower()


def _value(region: dict, where: str) -> dict:
    value = region.get("value")
    if not isinstance(value, dict):
        raise InvalidFieldError(f"{where}.value", "missing")
    return value


def _first_label(value: dict, kind: str) -> str | None:
    labels = value.get(kind) or value.get("labels")
    return str(labels[0]) if isinstance(labels, list) and labels else None


def _percent(value: dict, key: str, where: str) -> float:
    v = value.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InvalidFieldError(f"{where}.{key}", "must be a number (percent of the image)")
    return float(v)


def _point(value: dict, hw: tuple[int, int], where: str) -> list[float]:
    h, w = hw
    return [_percent(value, "x", f"{where}.value") * w / 100.0, _percent(value, "y", f"{where}.value") * h / 100.0]


def _box(value: dict, hw: tuple[int, int], where: str) -> list[float]:
    return box_pixels(tuple(_percent(value, k, f"{where}.value") for k in _BOX_KEYS), hw)


def _region_id() -> str:
    return secrets.token_hex(5)
