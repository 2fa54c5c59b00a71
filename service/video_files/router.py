"""``/videos``: video file sessions. Upload a file once, prompt any frame, propagate forward, backward or both as
NDJSON, correct a frame and propagate again, export at the source's frame numbers and resolution.

Each route: checks -> ``sessions.FileSessions`` (lease, state, sam2's predictor on the device worker, save) ->
the reply (``protocol.py``). The contract is docs/video-files.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from sam2refiner.model.video.offline import FramePrompt

from ..core.deps import RuntimeDep
from ..core.errors import InvalidFieldError, NotReadyError, UnknownIdError
from ..core.masks import decode_rle
from ..core.openapi import error_responses
from ..core.prompts import check_prompt, prompt_limits
from . import export, protocol
from .protocol import PromptIn, PropagateIn, UploadIn, VideoOut
from .sessions import FileSessions

router = APIRouter(prefix="/videos", tags=["video files"])
VIDEO_ID = re.compile(r"[0-9a-f]{32}")


async def get_file_sessions(conn: HTTPConnection, runtime: RuntimeDep) -> FileSessions:
    sessions = getattr(conn.app.state, "file_sessions", None)
    if runtime is None or sessions is None:
        raise NotReadyError(None, "the model is still loading; retry shortly")
    runtime.check_ready()
    return sessions


FileSessionsDep = Annotated[FileSessions, Depends(get_file_sessions)]


def _check_id(video_id: str) -> str:
    if not VIDEO_ID.fullmatch(video_id):
        raise UnknownIdError("video_id", f"video {video_id[:64]!r} does not exist (ids are 32 hex digits)")
    return video_id


@router.post("", status_code=201, response_model=VideoOut, responses=error_responses(413, 422, 503))
async def upload(
    sessions: FileSessionsDep, form: Annotated[UploadIn, Form(media_type="multipart/form-data")]
) -> VideoOut:
    """A video file (multipart field ``file``; any container and codec FFmpeg reads), or its http(s) URL (form
    field ``url``) for the service to fetch, from the hosts of ``SAM2REFINER_VIDEO_FILE_URL_HOSTS`` only; decoded
    once."""
    if (form.file is None) == (form.url is None):  # the schema's oneOf
        raise InvalidFieldError(
            "file", "send the video file (multipart field file) or its URL (form field url): one of the two"
        )
    data = await form.file.read() if form.file is not None else await sessions.fetch(form.url)
    video_id, session = await sessions.create(data)
    return protocol.video_out(video_id, session.info, [], False, session.nbytes())


@router.get("/{video_id}", response_model=VideoOut, responses=error_responses(404, 422, 503))
async def get_video(video_id: str, sessions: FileSessionsDep) -> VideoOut:
    session, running = await sessions.get(_check_id(video_id))
    return protocol.video_out(video_id, session.info, session.track.obj_ids, running, session.nbytes())


@router.get("/{video_id}/frames/{k}", responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404, 422)})
async def get_frame(video_id: str, k: int, sessions: FileSessionsDep) -> Response:
    """Source frame k as JPEG at the source's resolution (what the model sees)."""
    jpeg = await sessions.frame_jpeg(_check_id(video_id), k)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=31536000, immutable"})


@router.post("/{video_id}/prompts", response_model=protocol.FrameOut, responses=error_responses(404, 409, 413, 422))
async def add_prompt(video_id: str, body: PromptIn, sessions: FileSessionsDep) -> dict:
    """One object's prompt on any frame; every object's mask on that frame (as sam2's add_new_points_or_box)."""
    _check_id(video_id)
    if body.refine:
        raise InvalidFieldError("refine", "file sessions run SAM 2 alone for now: leave refine unset or false")
    check_prompt(body, prompt_limits(sessions.settings))  # as /segment and the socket, before anything is loaded
    mask = None
    if body.mask is not None:
        if body.points is not None or body.box is not None:
            raise InvalidFieldError("mask", "a mask prompt goes alone, without points or box")
        mask = await run_in_threadpool(decode_rle, body.mask.model_dump(), "mask")
    prompt = FramePrompt(
        frame=body.frame,
        obj_id=body.object_id,
        points=body.points,
        labels=body.labels,
        box=body.box,
        mask=mask,
        clear_old_points=body.clear_old_points,
    )
    return await sessions.prompt(video_id, prompt)


@router.post(
    "/{video_id}/propagate",
    responses={200: {"content": {"application/x-ndjson": {}}}, **error_responses(404, 409, 422)},
)
async def propagate(video_id: str, body: PropagateIn, sessions: FileSessionsDep) -> StreamingResponse:
    """Tracks every object from ``start_frame``: one NDJSON line per frame as it is stored, then ``finished``.
    Closing the stream cancels the propagation."""
    plan = await sessions.plan_propagation(_check_id(video_id), body.start_frame, body.direction, body.end_frame)
    return StreamingResponse(sessions.propagate(plan), media_type="application/x-ndjson")


@router.post("/{video_id}/cancel", status_code=204, responses=error_responses(404))
async def cancel(video_id: str, sessions: FileSessionsDep) -> Response:
    """Stops a running propagation of this session (on any worker) after the frame in flight."""
    await sessions.cancel(_check_id(video_id))
    return Response(status_code=204)


@router.get("/{video_id}/masks/{k}", response_model=protocol.FrameOut, responses=error_responses(404, 422))
async def get_masks(video_id: str, k: int, sessions: FileSessionsDep) -> dict:
    """The stored masks of frame k, every object's."""
    return await sessions.masks(_check_id(video_id), k)


@router.get(
    "/{video_id}/export",
    responses={200: {"content": {t: {} for t in export.FORMATS.values()}}, **error_responses(404, 422)},
)
async def export_masks(
    video_id: str, sessions: FileSessionsDep, format: Literal["coco", "png-zip", "mp4"] = "coco"
) -> Response:
    """The masks at the source's frame numbers, timestamps and resolution: COCO JSON, a zip of PNGs, or an MP4
    with the masks drawn over the video."""
    body = await sessions.export(_check_id(video_id), format)
    name = f"{video_id}.{export.SUFFIX[format]}"
    return Response(
        body, media_type=export.FORMATS[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.delete("/{video_id}/objects/{object_id}", status_code=204, responses=error_responses(404, 409, 422))
async def remove_object(video_id: str, object_id: int, sessions: FileSessionsDep) -> Response:
    await sessions.remove_object(_check_id(video_id), object_id)
    return Response(status_code=204)


@router.post("/{video_id}/reset", status_code=204, responses=error_responses(404, 409))
async def reset(video_id: str, sessions: FileSessionsDep) -> Response:
    """Every prompt and mask gone; the video stays."""
    await sessions.reset(_check_id(video_id))
    return Response(status_code=204)


@router.delete("/{video_id}", status_code=204, responses=error_responses(404))
async def delete_video(video_id: str, sessions: FileSessionsDep) -> Response:
    if not await sessions.delete(_check_id(video_id)):
        raise UnknownIdError("video_id", f"video {video_id} does not exist (deleted or expired)")
    return Response(status_code=204)


__all__ = ["router"]
