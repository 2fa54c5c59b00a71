"""``/videos``: request and reply bodies (pydantic v2), and the NDJSON lines of a propagation.

Masks are COCO RLE at the source's resolution (``core/masks.encode_rle``); frames are the source's frame numbers.
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from sam2refiner.model.video.offline import FrameMasks

from ..core.masks import encode_rle
from ..image.protocol import RLE, _Strict
from ..video.protocol import _never_null
from .decode import VideoInfo


class UploadIn(BaseModel):
    """``POST /videos``' form: the file, or its URL; one of the two (multipart; ``url`` alone may be urlencoded)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["file"]}, {"required": ["url"]}]})

    # Left out rather than null (a form has no null): the schema has each field's type alone.
    file: UploadFile | None = Field(
        None, description="the video file (any container and codec FFmpeg reads)", json_schema_extra=_never_null
    )
    url: str | None = Field(
        None,
        min_length=1,  # FastAPI reads an empty form field as left out
        description="an http(s) URL of the file, for the service to fetch: only from the hosts of "
        "SAM2REFINER_VIDEO_FILE_URL_HOSTS (none unless set)",
        json_schema_extra=_never_null,
    )


class VideoOut(BaseModel):
    video_id: str
    frames: int
    width: int
    height: int
    fps: float = Field(description="average frames per second over the file")
    duration_s: float
    timestamps: list[float] = Field(description="seconds from the first frame, per source frame")
    objects: list[int] = Field(description="object ids with prompts, in order of arrival")
    propagating: bool = Field(False, description="a propagation of this session is running (on any worker)")
    stored_bytes: int = Field(0, description="what the session stores (file, masks and memory); capped per session")


def video_out(video_id: str, info: VideoInfo, objects: list[int], propagating: bool, stored: int) -> VideoOut:
    return VideoOut(
        video_id=video_id,
        frames=info.frames,
        width=info.width,
        height=info.height,
        fps=info.fps,
        duration_s=info.duration_s,
        timestamps=info.timestamps,
        objects=objects,
        propagating=propagating,
        stored_bytes=stored,
    )


class PromptIn(_Strict):
    """One object's prompt on one frame, in the source frame's pixels (SAM2VideoPredictor.add_new_points_or_box,
    or add_new_mask for a mask)."""

    frame: int = Field(ge=0, description="source frame number")
    object_id: int = Field(ge=0, le=2**31 - 1)
    points: list[tuple[FiniteFloat, FiniteFloat]] | None = Field(None, description="[[x, y], ...]")
    labels: list[Literal[0, 1]] | None = Field(None, description="1 = foreground, 0 = background, one per point")
    box: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat] | None = Field(None, description="[x0, y0, x1, y1]")
    mask: RLE | None = Field(None, description="the object's mask on this frame (COCO RLE of the frame's size)")
    clear_old_points: bool = Field(True, description="false adds the points to this frame's earlier ones")
    refine: bool | None = Field(None, description="file sessions run SAM 2 alone: true is refused, for now")


class PropagateIn(_Strict):
    start_frame: int | None = Field(None, ge=0, description="default: the earliest prompted frame")
    direction: Literal["forward", "backward", "both"] = "forward"
    end_frame: int | None = Field(None, ge=0, description="last frame to track (inclusive); default: the end")


class ObjectOut(BaseModel):
    object_id: int
    rle: RLE
    score: float = Field(description="SAM 2's object presence, as a probability (sigmoid of its logit)")
    visible: bool = Field(description="SAM 2 finds the object on this frame (presence logit > 0)")


class FrameOut(BaseModel):
    frame: int
    time: float = Field(description="the frame's timestamp in seconds")
    objects: list[ObjectOut]


def frame_out(masks: FrameMasks, info: VideoInfo) -> dict:
    """A frame's masks as JSON-ready dict (RLE encoding runs in a thread of the pool)."""
    return {
        "frame": masks.frame,
        "time": info.timestamps[masks.frame],
        "objects": [
            {"object_id": o.obj_id, "rle": encode_rle(o.mask), "score": round(o.score, 6), "visible": o.visible}
            for o in masks.objects
        ],
    }


def line(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()
