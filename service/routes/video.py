"""WebSocket /video/{session} (frame-at-a-time tracking), GET and DELETE /video/{session}.

The protocol is documented in README.md (section video). In short: JSON text messages control the session
(``start``, ``prompt``, ``remove``, ``reset``, ``close``), each binary message is one JPEG/PNG frame, and every
message gets exactly one JSON reply; a malformed one gets ``{"type": "error", ...}`` and changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from .. import metrics
from ..error_handlers import ws_error
from ..errors import (
    InvalidFieldError,
    NotReadyError,
    PayloadTooLargeError,
    ServiceError,
    UnknownIdError,
    parse_json_message,
)
from ..mask_codecs import FORMATS
from ..video_sessions import SessionOptions, VideoSessions

log = logging.getLogger(__name__)
router = APIRouter(tags=["video"])
SESSION_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
MESSAGE_TYPES = ("start", "prompt", "remove", "reset", "close")


def video_sessions(app) -> VideoSessions:
    """The app's VideoSessions, made on first use (the model is loaded by then)."""
    sessions = getattr(app.state, "video_sessions", None)
    if sessions is None:
        engine = getattr(app.state, "engine", None)
        if engine is None or not engine.ready:
            raise NotReadyError(None, "the model is still loading; retry shortly")
        sessions = app.state.video_sessions = VideoSessions(engine, app.state.settings)
    return sessions


def _check_session_id(session: str) -> None:
    if not SESSION_ID.match(session):
        raise InvalidFieldError("session", "session ids are 1-128 characters of A-Z a-z 0-9 _ . -")


@router.get("/video/{session}")
async def get_session(session: str, request: Request) -> dict:
    """Frames processed, objects, bytes of state held, seconds to expiry."""
    _check_session_id(session)
    return await video_sessions(request.app).info(session)


@router.delete("/video/{session}", status_code=204)
async def delete_session(session: str, request: Request) -> Response:
    _check_session_id(session)
    if not await video_sessions(request.app).delete(session):
        raise UnknownIdError("session", f"session {session} does not exist (expired or closed)")
    return Response(status_code=204)


def _parse(text: str | None, max_chars: int) -> dict:
    if text is not None and len(text) > max_chars:  # characters <= bytes: anything counted over is over
        raise PayloadTooLargeError("message", f"a text message of {len(text)} characters is over the limit of {max_chars}")
    msg = parse_json_message(text)
    if not isinstance(msg, dict):
        raise InvalidFieldError("message", "a control message is a JSON object with a \"type\"")
    if msg.get("type") not in MESSAGE_TYPES:
        raise InvalidFieldError("type", f"unknown message type {msg.get('type')!r}; use one of {list(MESSAGE_TYPES)}")
    return msg


def _start_options(msg: dict, engine) -> SessionOptions:
    refine, fmt = msg.get("refine"), msg.get("format", "rle")
    if refine is not None and not isinstance(refine, bool):
        raise InvalidFieldError("refine", "must be true or false")
    if fmt not in FORMATS:
        raise InvalidFieldError("format", f"unknown format {fmt!r}; use one of {list(FORMATS)}")
    return SessionOptions(engine.resolve_refine(refine), fmt)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _prompt_objects(msg: dict) -> tuple[int | None, list[dict]]:
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
        if all(o.get(k) is None for k in ("points", "box", "mask")):
            raise InvalidFieldError(f"objects.{i}", "give points (with labels), a box, or a mask")
    return frame_idx, objects


@router.websocket("/video/{session}")
async def video_socket(ws: WebSocket, session: str) -> None:
    await ws.accept()  # the API key was checked by middleware.ApiKeyAuth
    metrics.VIDEO_ACTIVE_SESSIONS.inc()
    options: SessionOptions | None = None
    try:
        _check_session_id(session)
        sessions = video_sessions(ws.app)
    except ServiceError as e:
        await ws.send_json(ws_error(e))
        await ws.close(code=1008)
        metrics.VIDEO_ACTIVE_SESSIONS.dec()
        return
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                if message.get("bytes") is not None:
                    if options is None:
                        raise InvalidFieldError("frame", "send {\"type\": \"start\"} before the first frame")
                    reply = await sessions.frame(session, message["bytes"], options.format)
                    await ws.send_json({"type": "frame", **asdict(reply)})
                    continue
                msg = _parse(message.get("text"), ws.app.state.settings.max_body_bytes)
                kind = msg["type"]
                if kind == "start":
                    requested = _start_options(msg, sessions.engine)
                    state = await sessions.start(session, requested.refine)
                    options = SessionOptions(state["refine"], requested.format)
                    await ws.send_json({"type": "started", "session": session, "format": options.format, **state})
                elif options is None:
                    raise InvalidFieldError("type", "send {\"type\": \"start\"} first")
                elif kind == "prompt":
                    frame_idx, objects = _prompt_objects(msg)
                    reply = await sessions.prompt(session, frame_idx, objects, options.format)
                    await ws.send_json({"type": "masks", **asdict(reply)})
                elif kind == "remove":
                    if not _is_int(msg.get("obj_id")):
                        raise InvalidFieldError("obj_id", "must be an integer")
                    await sessions.remove(session, msg["obj_id"])
                    await ws.send_json({"type": "removed", "obj_id": msg["obj_id"]})
                elif kind == "reset":
                    await sessions.reset(session)
                    await ws.send_json({"type": "reset"})
                elif kind == "close":
                    await sessions.delete(session)
                    await ws.send_json({"type": "closed", "session": session})
                    await ws.close()
                    break
            except WebSocketDisconnect:
                raise
            except ServiceError as e:
                await ws.send_json(ws_error(e))
            except Exception as e:  # noqa: BLE001  (the socket and the stored session outlive one bad message)
                log.exception("video session %s: %s", session, e)
                await ws.send_json(ws_error(e))
    except WebSocketDisconnect:
        pass
    finally:
        metrics.VIDEO_ACTIVE_SESSIONS.dec()
