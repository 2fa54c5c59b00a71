"""WebSocket /video/{session} (frame-at-a-time tracking), GET and DELETE /video/{session}.

The protocol is documented in README.md (section video). In short: JSON text messages control the session
(``start``, ``prompt``, ``remove``, ``reset``, ``close``), each binary message is one JPEG/PNG frame, and every
message gets exactly one JSON reply; a malformed one gets ``{"type": "error", ...}`` and changes nothing.
Messages that change the session may carry the client's sequence number ``seq`` (a frame: in a
``{"type": "frame", "seq": n}`` header sent just before it, the two answered as one), so a resend after a lost
reply is answered, not applied twice. A draining worker answers ``draining`` and closes the socket (1012).
"""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.prompts import PromptLimits, check_counts, check_object_prompts

from ..core import metrics
from ..core.deps import DrainDep, RuntimeDep, SettingsDep, VideoSessionsDep
from ..core.error_handlers import as_service_error
from ..core.errors import (
    DrainingError,
    InternalError,
    InvalidFieldError,
    NotReadyError,
    PayloadTooLargeError,
    ServiceError,
    UnknownIdError,
    parse_json_message,
)
from ..core.masks import FORMATS
from ..core.openapi import error_responses
from ..core.prompts import prompt_limits
from ..core.runtime import Runtime
from .protocol import ws_error
from .sessions import SessionOptions, VideoSessions

log = logging.getLogger(__name__)
router = APIRouter(tags=["video"])
SESSION_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # the whole id (fullmatch: "abc\n" is not "abc")
MODULES = ("la", "pr", "mr")  # Localization Augment, Prompt Retargeting, Mask Refinement
MESSAGE_TYPES = ("start", "frame", "prompt", "remove", "reset", "close")
SERVICE_RESTART = 1012  # WebSocket close code: the client should reconnect


def _check_session_id(session: str) -> None:
    if not SESSION_ID.fullmatch(session):
        raise InvalidFieldError("session", "session ids are 1-128 characters of A-Z a-z 0-9 _ . -")


def _ready(runtime: Runtime | None, sessions: VideoSessions | None) -> VideoSessions:
    if runtime is None or sessions is None:
        raise NotReadyError(None, "the model is still loading; retry shortly")
    runtime.check_ready()
    return sessions


@router.get("/video/{session}", responses=error_responses(404, 409, 422, 503))
async def get_session(session: str, runtime: RuntimeDep, sessions: VideoSessionsDep) -> dict:
    """Frames processed, objects, bytes of state held, seconds to expiry."""
    _check_session_id(session)
    return await _ready(runtime, sessions).info(session)


@router.delete("/video/{session}", status_code=204, responses=error_responses(404, 409, 422, 503))
async def delete_session(session: str, runtime: RuntimeDep, sessions: VideoSessionsDep) -> Response:
    _check_session_id(session)
    if not await _ready(runtime, sessions).delete(session):
        raise UnknownIdError("session", f"session {session} does not exist (expired or closed)")
    return Response(status_code=204)


def _parse(text: str | None, max_chars: int) -> dict:
    if text is not None and len(text) > max_chars:  # characters <= bytes: anything counted over is over
        raise PayloadTooLargeError(
            "message", f"a text message of {len(text)} characters is over the limit of {max_chars}"
        )
    msg = parse_json_message(text)
    if not isinstance(msg, dict):
        raise InvalidFieldError("message", 'a control message is a JSON object with a "type"')
    if msg.get("type") not in MESSAGE_TYPES:
        raise InvalidFieldError("type", f"unknown message type {msg.get('type')!r}; use one of {list(MESSAGE_TYPES)}")
    return msg


def _start_options(msg: dict, runtime: Runtime) -> SessionOptions:
    refine, fmt = msg.get("refine"), msg.get("format", "rle")
    if refine is not None and not isinstance(refine, bool):
        _check_modules(refine)
    if fmt not in FORMATS:
        raise InvalidFieldError("format", f"unknown format {fmt!r}; use one of {list(FORMATS)}")
    refine = runtime.refine.resolve(refine)
    if isinstance(refine, dict):  # the session's modules, limited by the tracker to those the refiner has
        refine = RefinerSwitches(**{name: refine.get(name, False) for name in MODULES})
    return SessionOptions(refine, fmt)


def _check_modules(refine) -> None:
    """``refine`` as a module set: {"la": bool, "pr": bool, "mr": bool}, each optional (absent means off)."""
    if not isinstance(refine, dict):
        raise InvalidFieldError("refine", 'must be true, false or {"la": bool, "pr": bool, "mr": bool}')
    for name, value in refine.items():
        if name not in MODULES:
            raise InvalidFieldError(f"refine.{name}", f"unknown module {name!r}; use {list(MODULES)}")
        if not isinstance(value, bool):
            raise InvalidFieldError(f"refine.{name}", "must be true or false")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _seq(msg: dict) -> int | None:
    seq = msg.get("seq")
    if seq is not None and not (_is_int(seq) and 0 <= seq < 2**63):
        raise InvalidFieldError("seq", "must be a non-negative integer (the client's number of this message)")
    return seq


def _prompt_objects(msg: dict, limits: PromptLimits) -> tuple[int | None, list[dict]]:
    """Types and counts of a prompt message (the same limits as /segment); values are checked against the frame
    by the model's prompt layer in ``VideoSessions.prompt``."""
    frame_idx, objects = msg.get("frame_idx"), msg.get("objects")
    if frame_idx is not None and not _is_int(frame_idx):
        raise InvalidFieldError("frame_idx", "must be an integer (the index of the current frame)")
    if not isinstance(objects, list) or not objects:
        raise InvalidFieldError("objects", "give a non-empty list of {obj_id, points, labels, box, mask}")
    for i, o in enumerate(objects):
        if not isinstance(o, dict) or not _is_int(o.get("obj_id")):
            raise InvalidFieldError(f"objects.{i}.obj_id", "each object needs an integer obj_id")
        unknown = set(o) - {"obj_id", "points", "labels", "box", "mask"}
        if unknown:
            raise InvalidFieldError(f"objects.{i}", f"unknown fields {sorted(unknown)}")
        for name in ("points", "labels"):
            if o.get(name) is not None and not isinstance(o[name], list):
                raise InvalidFieldError(f"objects.{i}.{name}", "must be a list")
        check_object_prompts(o.get("points"), o.get("labels"), o.get("box"), o.get("mask"), where=f"objects.{i}")
    check_counts([None if o.get("points") is None else len(o["points"]) for o in objects], limits)
    return frame_idx, objects


@router.websocket("/video/{session}")
async def video_socket(
    ws: WebSocket,
    session: str,
    runtime: RuntimeDep,
    sessions: VideoSessionsDep,
    settings: SettingsDep,
    drain: DrainDep,
) -> None:
    await ws.accept()  # the API key was checked by middleware.ApiKeyAuth
    metrics.VIDEO_ACTIVE_SESSIONS.inc()
    try:
        _check_session_id(session)
        sessions = _ready(runtime, sessions)
        drain.check()
    except ServiceError as e:
        await ws.send_json(ws_error(e))
        await ws.close(code=SERVICE_RESTART if isinstance(e, DrainingError) else 1008)
        metrics.VIDEO_ACTIVE_SESSIONS.dec()
        return
    options: SessionOptions | None = None
    frame_seq: int | None = None  # from a {"type": "frame"} header: the seq of the binary frame that follows
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                async with drain.work():
                    if message.get("bytes") is not None:
                        seq, frame_seq = frame_seq, None
                        if options is None:
                            raise InvalidFieldError("frame", 'send {"type": "start"} before the first frame')
                        await ws.send_json(await sessions.frame(session, message["bytes"], options.format, seq))
                        continue
                    if frame_seq is not None:
                        frame_seq = None
                        await ws.send_json(
                            ws_error(InvalidFieldError("type", "a frame header must be followed by its binary frame"))
                        )
                    msg = _parse(message.get("text"), settings.max_body_bytes)
                    kind = msg["type"]
                    if kind == "start":
                        requested = _start_options(msg, runtime)
                        state = await sessions.start(session, requested.refine)
                        options = SessionOptions(state["refine"], requested.format)
                        await ws.send_json({"type": "started", "session": session, "format": options.format, **state})
                    elif options is None:
                        raise InvalidFieldError("type", 'send {"type": "start"} first')
                    elif kind == "frame":
                        frame_seq = _seq(msg)  # answered together with the binary frame that follows
                        if frame_seq is None:
                            raise InvalidFieldError("seq", "a frame header carries the seq of the frame that follows")
                    elif kind == "prompt":
                        frame_idx, objects = _prompt_objects(msg, prompt_limits(settings))
                        await ws.send_json(
                            await sessions.prompt(session, frame_idx, objects, options.format, _seq(msg))
                        )
                    elif kind == "remove":
                        if not _is_int(msg.get("obj_id")):
                            raise InvalidFieldError("obj_id", "must be an integer")
                        await ws.send_json(await sessions.remove(session, msg["obj_id"], _seq(msg)))
                    elif kind == "reset":
                        await ws.send_json(await sessions.reset(session, _seq(msg)))
                    elif kind == "close":
                        await sessions.delete(session)
                        await ws.send_json({"type": "closed", "session": session})
                        await ws.close()
                        break
            except WebSocketDisconnect:
                raise
            except DrainingError as e:  # the client reconnects (to another worker) and sends this message again
                await ws.send_json(ws_error(e))
                await ws.close(code=SERVICE_RESTART)
                break
            except Exception as e:  # noqa: BLE001  (the socket and the stored session outlive one bad message)
                if isinstance(as_service_error(e), InternalError):
                    log.exception("video session %s: %s", session, e)
                await ws.send_json(ws_error(e))
    except WebSocketDisconnect:
        pass
    finally:
        metrics.VIDEO_ACTIVE_SESSIONS.dec()
