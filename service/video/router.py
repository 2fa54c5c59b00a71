"""``WebSocket /video/{session}`` (frame-at-a-time tracking), ``GET``/``DELETE /video/{session}`` and
``GET /video/protocol.json`` (the protocol's JSON Schema).

The socket's loop, per message: parse (``protocol.parse_message``, or a binary frame) -> the handler of its type
(``HANDLERS``) -> its one reply, sent. A malformed message gets ``{"type": "error", ...}`` and changes nothing; a
draining worker answers ``draining`` and closes the socket (1012), and the client reconnects elsewhere. The
messages themselves are described in ``protocol.py`` and docs/video-protocol.md.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor, register_url_convertor

from sam2refiner.model.config import RefinerSwitches

from ..core import metrics
from ..core.deps import DrainDep, RuntimeDep, SettingsDep, VideoSessionsDep
from ..core.error_handlers import as_service_error
from ..core.errors import DrainingError, InternalError, InvalidFieldError, NotReadyError, ServiceError, UnknownIdError
from ..core.openapi import error_responses
from ..core.prompts import check_prompt_set, prompt_limits
from ..core.runtime import Runtime
from ..core.settings import Settings
from . import protocol
from .draining import Drain
from .protocol import Close, ErrorMessage, FrameHeader, Prompt, Remove, Reset, SessionOut, Start
from .sessions import Numbered, VideoSessions

log = logging.getLogger(__name__)
router = APIRouter(tags=["video"])
PROTOCOL_PATH = "/video/protocol.json"
RESERVED_ID = PROTOCOL_PATH.rpartition("/")[2]  # the protocol document's name is no session's
SESSION_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # the whole id (fullmatch: "abc\n" is not "abc")


class _SessionSegment(StringConvertor):
    """{session} in the HTTP routes: any path segment but the protocol document's name, so every method on
    /video/protocol.json is that document's (405 with Allow: GET but for GET), none a session route's."""

    regex = rf"(?!{re.escape(RESERVED_ID)}$)[^/]+"


register_url_convertor("video_session", _SessionSegment())
SESSION_PATH = "/video/{session:video_session}"
# The path parameter's JSON Schema says what _check_session_id enforces (ECMA-262: anchored, reserved name excluded).
SessionId = Annotated[
    str,
    Path(
        description=f"1-128 characters of A-Z a-z 0-9 _ . - (not {RESERVED_ID})",
        json_schema_extra={"pattern": rf"^(?!{re.escape(RESERVED_ID)}$){SESSION_ID.pattern}$"},
    ),
]
SERVICE_RESTART = 1012  # WebSocket close code: the client should reconnect


def _check_session_id(session: str) -> None:
    if not SESSION_ID.fullmatch(session):
        raise InvalidFieldError("session", "session ids are 1-128 characters of A-Z a-z 0-9 _ . -")
    if session == RESERVED_ID:
        raise InvalidFieldError("session", f"{session} is reserved: GET {PROTOCOL_PATH} is the protocol document")


def _ready(runtime: Runtime | None, sessions: VideoSessions | None) -> VideoSessions:
    if runtime is None or sessions is None:
        raise NotReadyError(None, "the model is still loading; retry shortly")
    runtime.check_ready()
    return sessions


# ------------------------------------------------------------------ HTTP
@router.get(PROTOCOL_PATH, response_model=dict)
async def protocol_document() -> dict:
    """The WebSocket protocol as JSON Schema: every client message and every reply, discriminated on ``type``."""
    return _DOCUMENT


_DOCUMENT = protocol.protocol_document()


@router.get(SESSION_PATH, response_model=SessionOut, responses=error_responses(404, 409, 422, 503))
async def get_session(session: SessionId, runtime: RuntimeDep, sessions: VideoSessionsDep) -> SessionOut:
    """Frames processed, objects, bytes of state held, seconds to expiry (renews the TTL)."""
    _check_session_id(session)
    status, info = await _ready(runtime, sessions).info(session)
    return protocol.session_out(session, status, info)


@router.delete(SESSION_PATH, status_code=204, responses=error_responses(404, 409, 422, 503))
async def delete_session(session: SessionId, runtime: RuntimeDep, sessions: VideoSessionsDep) -> Response:
    _check_session_id(session)
    if not await _ready(runtime, sessions).delete(session):
        raise UnknownIdError("session", f"session {session} does not exist (expired or closed)")
    return Response(status_code=204)


# ------------------------------------------------------------------ the socket
@dataclass
class Connection:
    """One socket: its session, and what the protocol remembers between its messages."""

    session: str
    runtime: Runtime
    sessions: VideoSessions
    settings: Settings
    format: str | None = None  # the sessions' mask format, chosen by start (None: no start yet)
    frame_seq: int | None = None  # from a frame header: the seq of the binary frame that follows
    orphan_frame: bool = False  # a frame header was refused: the binary frame after it was answered with it
    closed: bool = False

    def started(self, field: str = "type") -> str:
        if self.format is None:
            raise InvalidFieldError(field, 'send {"type": "start"} first')
        return self.format


async def _start(c: Connection, msg: Start) -> protocol.Started:
    refine = c.runtime.refine.resolve(msg.requested_refine())
    if isinstance(refine, dict):  # the session's modules, limited by the tracker to those the refiner has
        refine = RefinerSwitches(**refine)
    status = await c.sessions.start(c.session, refine)
    c.format = msg.format
    return protocol.started(c.session, msg.format, status)


async def _frame_header(c: Connection, msg: FrameHeader) -> None:
    c.frame_seq = msg.seq  # answered together with the binary frame that follows
    return None


async def _frame(c: Connection, raw: bytes) -> protocol.FrameReply:
    seq, c.frame_seq = c.frame_seq, None
    fmt = c.started("frame")
    t = time.perf_counter()
    pixels = await run_in_threadpool(protocol.decode_frame, raw, c.settings)
    decode_s = time.perf_counter() - t
    reply = protocol.frame_reply(fmt, seq)
    numbered = None if seq is None else Numbered(seq, protocol.frame_digest(raw))
    message = reply.answer(await c.sessions.frame(c.session, raw, pixels, reply, numbered), decode_frame=decode_s)
    if not message.duplicate:
        metrics.VIDEO_FRAMES.inc()
    return message


async def _prompt(c: Connection, msg: Prompt) -> protocol.MasksReply:
    check_prompt_set(msg.objects, prompt_limits(c.settings))  # counts, and which prompts go together
    reply = protocol.masks_reply(c.format, msg.seq)
    prompts_at = partial(msg.track_prompts, c.format)  # the rest against the session's frame, under its lease
    return reply.answer(await c.sessions.prompt(c.session, msg.frame_idx, prompts_at, reply, _numbered(msg)))


async def _remove(c: Connection, msg: Remove) -> protocol.Removed:
    reply = protocol.removed_reply(c.format, msg.seq, msg.obj_id)
    return reply.answer(await c.sessions.remove(c.session, msg.obj_id, reply, _numbered(msg)))


async def _reset(c: Connection, msg: Reset) -> protocol.ResetDone:
    reply = protocol.reset_reply(c.format, msg.seq)
    return reply.answer(await c.sessions.reset(c.session, reply, _numbered(msg)))


def _numbered(msg: Prompt | Remove | Reset) -> Numbered | None:
    return None if msg.seq is None else Numbered(msg.seq, protocol.message_digest(msg))


async def _close(c: Connection, msg: Close) -> protocol.Closed:
    await c.sessions.delete(c.session)
    c.closed = True
    return protocol.Closed(session=c.session)


HANDLERS = {Start: _start, FrameHeader: _frame_header, Prompt: _prompt, Remove: _remove, Reset: _reset, Close: _close}


async def _answer(c: Connection, message: dict) -> BaseModel | None:
    """The reply to one WebSocket message (None: a frame header, answered with its frame, or the frame of a
    refused header, answered with the refusal)."""
    if message.get("bytes") is not None:
        if c.orphan_frame:
            c.orphan_frame = False
            return None
        return await _frame(c, message["bytes"])
    c.orphan_frame = False
    raw = protocol.parse_object(message.get("text"), c.settings.max_body_bytes)
    try:
        msg = protocol.typed_message(raw)
        if not isinstance(msg, (Start, Close)):  # close needs no start: it deletes whatever is stored
            c.started()
    except ServiceError:
        # A refused frame header and its frame are one message with one reply: the frame is not applied alone.
        c.orphan_frame = raw.get("type") == "frame"
        raise
    return await HANDLERS[type(msg)](c, msg)


async def _send(ws: WebSocket, message: BaseModel) -> None:
    await ws.send_text(protocol.wire(message))


@router.websocket("/video/{session}")
async def video_socket(
    ws: WebSocket, session: str, runtime: RuntimeDep, sessions: VideoSessionsDep, settings: SettingsDep, drain: DrainDep
) -> None:
    await ws.accept()  # the API key was checked by middleware.ApiKeyAuth
    metrics.VIDEO_ACTIVE_SESSIONS.inc()
    try:
        try:
            _check_session_id(session)
            connection = Connection(session, runtime, _ready(runtime, sessions), settings)
            drain.check()
        except ServiceError as e:
            await _send(ws, ErrorMessage.of(e))
            await ws.close(code=SERVICE_RESTART if isinstance(e, DrainingError) else 1008)
            return
        await _serve(ws, connection, drain)
    except WebSocketDisconnect:
        pass
    finally:
        metrics.VIDEO_ACTIVE_SESSIONS.dec()


async def _serve(ws: WebSocket, c: Connection, drain: Drain) -> None:
    while not c.closed:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        try:
            async with drain.work():
                if message.get("bytes") is None and c.frame_seq is not None:
                    c.frame_seq = None  # refused on its own; the message after it is answered as usual
                    error = InvalidFieldError("type", "a frame header must be followed by its binary frame")
                    await _send(ws, ErrorMessage.of(error))
                reply = await _answer(c, message)
                if reply is not None:
                    await _send(ws, reply)
        except WebSocketDisconnect:
            raise
        except DrainingError as e:  # the client reconnects (to another worker) and sends this message again
            await _send(ws, ErrorMessage.of(e))
            await ws.close(code=SERVICE_RESTART)
            return
        except Exception as e:  # noqa: BLE001  (the socket and the stored session outlive one bad message)
            if isinstance(as_service_error(e), InternalError):
                log.exception("video session %s: %s", c.session, e)
            await _send(ws, ErrorMessage.of(e))
    await ws.close()
