"""The video WebSocket's protocol as types: every message a client sends and every reply, pydantic models
discriminated on ``type``; ``GET /video/protocol.json`` serves their JSON Schema (``protocol_document``).

    message = parse_message(text, max_chars)       # ClientMessage: Start | FrameHeader | Prompt | Remove | ...
    pixels = decode_frame(raw, settings)           # a binary message: one encoded frame
    reply = ReplyBuilder(fmt, seq, masks("frame"))  # the reply, made under the session's lease (kept with seq)
    await ws.send_text(wire(reply.answer(applied)))

Text messages are JSON objects; each binary message is one encoded frame (JPEG, PNG or WebP). Every client
message gets exactly one reply (a frame header and its frame count as one). Fields are checked here by their
types; which prompts go together and how many are checked once by ``core/prompts.py``, and the points, box and
mask against the frame once the session's frame size is known (``Prompt.track_prompts``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from sam2refiner.model.errors import InvalidInputError
from sam2refiner.model.prompts import check_mask_size
from sam2refiner.model.video import FrameResult, TrackPrompt

from ..core import metrics
from ..core.error_handlers import ErrorDetail, as_service_error, clean_message, field_of
from ..core.errors import (
    DuplicateFrameError,
    InvalidFieldError,
    PayloadTooLargeError,
    SeqConflictError,
    SessionUnreadableError,
    parse_json_message,
)
from ..core.images import decode_image_bytes
from ..core.masks import MaskFormat, declared_size, decode_mask, encode_mask
from ..core.prompts import check_geometry
from ..core.settings import Settings

MAX_SEQ = 2**53 - 1  # the largest integer a JavaScript client holds exactly (and far inside Redis' 64 bits)
Seq = Annotated[
    StrictInt,
    Field(
        ge=0,
        le=MAX_SEQ,
        description=f"the client's number of this message, increasing, at most {MAX_SEQ}; a resend keeps it",
    ),
]
MaskPayload = Annotated[
    Any,
    WithJsonSchema(
        {
            "description": "a mask in the session's format",
            "oneOf": [
                {
                    "title": "rle",
                    "type": "object",
                    "properties": {
                        "size": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                        "counts": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]},
                    },
                    "required": ["size", "counts"],
                },
                {"title": "png", "type": "string", "description": "base64 PNG"},
                {
                    "title": "polygons",
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                    "description": "[[x0, y0, x1, y1, ...], ...]",
                },
            ],
        }
    ),
]


def _absent_if_none(value) -> bool:
    return value is None


def _never_null(schema: dict) -> None:
    """A field that is absent rather than null: its schema is the value's alone."""
    (value,) = [s for s in schema.pop("anyOf") if s != {"type": "null"}]
    schema.pop("default", None)
    schema.update(value)


def Optional(description: str):  # noqa: N802  (reads as a type in the field declarations below)
    """A reply field sent only when it applies (absent, never null)."""
    return Field(None, description=description, exclude_if=_absent_if_none, json_schema_extra=_never_null)


def _type_required(schema: dict) -> None:
    """Every server message has its type (a default here only so that the code need not repeat it)."""
    schema["required"] = ["type", *[name for name in schema.get("required", []) if name != "type"]]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo in a field name is an error, not a silent default


# ------------------------------------------------------------------ client messages
class ModuleSet(_Message):
    """Which refiner modules a session runs; absent ones are off, and the set is limited to the loaded refiner's."""

    la: StrictBool = Field(False, description="Localization Augment (five-image encoding)")
    pr: StrictBool = Field(False, description="Prompt Retargeting")
    mr: StrictBool = Field(False, description="Mask Refinement")


class Start(_Message):
    """First message of a connection: creates the session, or resumes the stored one (whose options win)."""

    type: Literal["start"]
    refine: StrictBool | ModuleSet | None = Field(
        None, description="true, false or a module set; unset: on when the server has a refiner"
    )
    format: MaskFormat = Field("rle", description="how masks are encoded, both ways")

    @field_validator("refine", mode="before")
    @classmethod
    def _refine(cls, value):
        if value is None or isinstance(value, bool):
            return value
        if not isinstance(value, dict):
            raise ValueError('must be true, false or {"la": bool, "pr": bool, "mr": bool}')
        for name, switch in value.items():
            if name not in ModuleSet.model_fields:
                raise ValueError(f"{name}: unknown module {name!r}; use {list(ModuleSet.model_fields)}")
            if not isinstance(switch, bool):
                raise ValueError(f"{name}: must be true or false")
        return value

    def requested_refine(self) -> bool | dict | None:
        """``refine`` as the refine policy takes it."""
        return self.refine.model_dump() if isinstance(self.refine, ModuleSet) else self.refine


class FrameHeader(_Message):
    """Gives the binary frame that follows a ``seq``; the two are answered as one."""

    type: Literal["frame"]
    seq: Seq


class ObjectPrompt(_Message):
    """One object's prompts on the current frame, in its pixels: points with labels and/or a box, or a mask alone."""

    obj_id: StrictInt
    points: list[tuple[FiniteFloat, FiniteFloat]] | None = Field(None, description="[[x, y], ...]")
    labels: list[Literal[0, 1]] | None = Field(None, description="1 = foreground, 0 = background, one per point")
    box: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat] | None = Field(None, description="[x0, y0, x1, y1]")
    mask: MaskPayload | None = Field(None, description="the object's mask on this frame, in the session's format")


class Prompt(_Message):
    """Adds objects or corrects tracked ones on the current frame."""

    type: Literal["prompt"]
    frame_idx: StrictInt | None = Field(None, description="the current frame's index, if given (checked)")
    objects: list[ObjectPrompt] = Field(min_length=1)
    seq: Seq | None = None

    @model_validator(mode="after")
    def _one_prompt_per_object(self):
        seen = set()
        for i, o in enumerate(self.objects):
            if o.obj_id in seen:
                raise ValueError(f"objects.{i}.obj_id: object {o.obj_id} is prompted twice; one prompt per object")
            seen.add(o.obj_id)
        return self

    def track_prompts(self, fmt: str, frame_hw: tuple[int, int]) -> list[TrackPrompt]:
        """The objects' prompts checked against a frame of ``frame_hw`` = (height, width), masks decoded."""
        prompts = []
        for i, o in enumerate(self.objects):
            where = f"objects.{i}"
            mask = None if o.mask is None else _decode_mask_prompt(o.mask, fmt, frame_hw, f"{where}.mask")
            points, labels, box = check_geometry(o.points, o.labels, o.box, frame_hw, where)
            prompts.append(TrackPrompt(o.obj_id, points, labels, box, mask))
        return prompts


class Remove(_Message):
    """Stops tracking one object."""

    type: Literal["remove"]
    obj_id: StrictInt
    seq: Seq | None = None


class Reset(_Message):
    """Forgets every object; frame numbers go on."""

    type: Literal["reset"]
    seq: Seq | None = None


class Close(_Message):
    """Deletes the session; the server answers, then closes the socket."""

    type: Literal["close"]


ClientMessage = Annotated[Start | FrameHeader | Prompt | Remove | Reset | Close, Field(discriminator="type")]
CLIENT_MESSAGES = TypeAdapter(ClientMessage)
MESSAGE_TYPES = ("start", "frame", "prompt", "remove", "reset", "close")


# ------------------------------------------------------------------ server messages
class _Reply(BaseModel):
    model_config = ConfigDict(json_schema_extra=_type_required)

    @model_serializer(mode="wrap")
    def _type_first(self, handler: SerializerFunctionWrapHandler) -> dict:
        """``type`` first on the wire, where a person reading the socket looks for it."""
        data = handler(self)
        return {"type": data.pop("type"), **data}


class Started(_Reply):
    """Where the session stands: a new one has ``frame_idx`` -1 and ``last_seq`` null."""

    type: Literal["started"] = "started"
    session: str
    format: MaskFormat
    frame_idx: int = Field(description="the current frame's index (-1: none yet)")
    frames_processed: int
    objects: list[int] = Field(description="the tracked objects' ids")
    refine: bool = Field(description="whether any refiner module runs")
    modules: ModuleSet = Field(description="the modules the session runs")
    last_seq: int | None = Field(description="seq of the last message applied with one (null: none)")


class _SeqReply(_Reply):
    """A reply to a message that may carry a ``seq``; a resend of an applied one gets it again, as a duplicate."""

    seq: int | None = Optional("the message's seq")
    duplicate: bool | None = Optional("true: the message was applied before; this is its kept reply")
    timings: dict[str, float] | None = Optional("milliseconds per stage ({} on a duplicate)")


class TrackedMask(BaseModel):
    obj_id: int
    mask: MaskPayload
    score: float = Field(description="SAM 2's predicted IoU of the mask")
    object_score: float = Field(description="SAM 2's object-presence logit")
    visible: bool
    area: int = Field(description="pixels in the mask")


class FrameReply(_SeqReply):
    """Every tracked object's mask on the new frame."""

    type: Literal["frame"] = "frame"
    frame_idx: int
    objects: list[TrackedMask]


class MasksReply(_SeqReply):
    """The prompted objects' masks on the current frame."""

    type: Literal["masks"] = "masks"
    frame_idx: int
    objects: list[TrackedMask]


class Removed(_SeqReply):
    type: Literal["removed"] = "removed"
    obj_id: int


class ResetDone(_SeqReply):
    type: Literal["reset"] = "reset"


class Closed(_Reply):
    type: Literal["closed"] = "closed"
    session: str


class ErrorMessage(_Reply):
    """The message was refused and changed nothing. ``error`` is the HTTP error object; ``code``, ``field`` and
    ``message`` repeat it at the top level, where the protocol had them first (kept for clients written against
    that)."""

    type: Literal["error"] = "error"
    error: ErrorDetail
    code: str
    field: str | None
    message: str

    @classmethod
    def of(cls, exc: Exception) -> ErrorMessage:
        e = as_service_error(exc, "internal error; the session is unchanged")
        detail = ErrorDetail(code=e.code, field=e.field, message=e.message)
        return cls(error=detail, code=e.code, field=e.field, message=e.message)


ServerMessage = Annotated[
    Started | FrameReply | MasksReply | Removed | ResetDone | Closed | ErrorMessage, Field(discriminator="type")
]
SERVER_MESSAGES = TypeAdapter(ServerMessage)


class SessionOut(BaseModel):
    """``GET /video/{session}``."""

    session: str
    frame_idx: int
    frames_processed: int
    objects: list[int]
    refine: bool
    modules: ModuleSet
    last_seq: int | None
    bytes: int = Field(description="everything held for the session")
    frame_bytes: int = Field(description="of which the current frame as sent")
    ttl_s: float = Field(description="seconds until the session expires unless used")
    version: int = Field(description="saves since the session was created")


# ------------------------------------------------------------------ parsing
def parse_message(text: str | None, max_chars: int) -> ClientMessage:
    """A text message as its typed message; any fault is one ``invalid_field`` (or ``malformed_json``,
    ``too_large``) error naming the field."""
    return typed_message(parse_object(text, max_chars))


def parse_object(text: str | None, max_chars: int) -> dict:
    """A text message as a JSON object (not checked against the protocol yet)."""
    if text is not None and len(text) > max_chars:  # characters <= bytes: anything counted over is over
        raise PayloadTooLargeError(
            "message", f"a text message of {len(text)} characters is over the limit of {max_chars}"
        )
    message = parse_json_message(text)
    if not isinstance(message, dict):
        raise InvalidFieldError("message", 'a control message is a JSON object with a "type"')
    return message


def typed_message(message: dict) -> ClientMessage:
    """A JSON object as the protocol's message of its ``type``."""
    try:
        return CLIENT_MESSAGES.validate_python(message)
    except ValidationError as e:
        raise _invalid(e, message.get("type")) from None


def message_digest(message: BaseModel) -> str:
    """What a numbered control message says, whatever its JSON spelling (key order, spaces, 1.0 or 1): a resend
    has the same digest, another message under the same ``seq`` another one."""
    return _digest(message.model_dump_json(exclude={"seq"}).encode())


def frame_digest(raw: bytes) -> str:
    """A numbered frame's digest: its bytes as sent."""
    return _digest(b"frame\0" + raw)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _invalid(error: ValidationError, kind) -> InvalidFieldError:
    first = error.errors()[0]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return InvalidFieldError("type", f"unknown message type {kind!r}; use one of {list(MESSAGE_TYPES)}")
    # Locations start with the message's type (the union's tag); the client names fields without it.
    return InvalidFieldError(field_of({**first, "loc": first["loc"][1:]}) or "message", clean_message(first))


def decode_frame(raw: bytes, settings: Settings) -> np.ndarray:
    """A binary message: one JPEG, PNG or WebP frame -> RGB uint8 [H, W, 3] (blocking: run it in a thread)."""
    if len(raw) > settings.video_max_frame_bytes:
        raise PayloadTooLargeError("frame", f"{len(raw)} bytes is over the limit of {settings.video_max_frame_bytes}")
    return decode_image_bytes(raw, settings.max_image_pixels, "frame")


def _decode_mask_prompt(payload, fmt: str, frame_hw: tuple[int, int], field: str) -> np.ndarray:
    """A mask prompt decoded at the frame's size; the size it declares (RLE ``size``, the PNG's header) is checked
    first, so a small message declaring a huge mask costs nothing."""
    try:
        declared = declared_size(payload, fmt)
        if declared is not None:
            check_mask_size(declared, frame_hw, f"{field}.size" if fmt == "rle" else field)
        mask = decode_mask(payload, fmt, *frame_hw)
    except InvalidInputError:
        raise
    except (InvalidFieldError, ValueError, KeyError, TypeError) as e:
        detail = e.message if isinstance(e, InvalidFieldError) else str(e)
        raise InvalidFieldError(field, f"not a valid {fmt} mask: {detail}") from e
    check_mask_size(mask.shape, frame_hw, field)
    return mask


# ------------------------------------------------------------------ replies
class PendingReply:
    """A message's reply, made while the session is leased (``VideoSessions`` keeps it with the message's ``seq``,
    in the transaction that saves the state, so a resend gets it again) and finished once the message is applied.

    ``build(result)`` makes the reply, of type ``kind``, from the tracker's result (None for messages without
    masks)."""

    def __init__(self, fmt: str, seq: int | None, kind: str, build: Callable[[FrameResult | None], _SeqReply]):
        self.fmt, self.seq, self.kind, self._build = fmt, seq, kind, build
        self.message: _SeqReply | None = None
        self._encode_s = 0.0

    def make(self, result: FrameResult | None) -> None:
        t = time.perf_counter()
        self.message = self._build(result)
        self.message.seq = self.seq
        self._encode_s = time.perf_counter() - t

    def kept(self) -> bytes:
        """What is kept with the message's seq (without timings: a resend ran nothing)."""
        return json.dumps({"format": self.fmt, "message": self.message.model_dump(mode="json")}).encode()

    def answer(self, applied, **seconds: float) -> _SeqReply:
        """The reply to send once ``applied`` (``VideoSessions``' outcome): this one, with the stage timings (also
        observed in the stage histogram), or a resend's kept reply."""
        if applied.kept is not None:
            return resent(applied.kept, self.fmt, self.kind)
        if applied.result is not None:
            self.message.timings = observed_ms({**seconds, **applied.timings, "encode_output": self._encode_s})
        return self.message


def resent(kept: bytes, fmt: str, kind: str) -> _SeqReply:
    """A kept reply, sent again to a resend of its message: marked ``duplicate``, with no timings (nothing ran).
    ``kind``: the type of reply the resent message gets (a kept reply of another type answered another message)."""
    try:
        kept = json.loads(kept)
        message = kept["message"]
        kept_format = kept["format"]
        duplicate = SERVER_MESSAGES.validate_python({**message, "duplicate": True, "timings": {}})
    except (ValueError, TypeError, KeyError) as e:  # ValidationError and JSONDecodeError are ValueErrors
        raise SessionUnreadableError(
            "session",
            f"the reply kept with the session's last_seq cannot be read ({str(e)[:200]}); delete the session "
            "(DELETE /video/{session}, or a close message) and start it anew",
        ) from e
    if message.get("type") != kind:
        raise SeqConflictError(
            "seq",
            f"message {message.get('seq')} was applied already and was another kind of message: this one is not "
            "applied; number the next message above the session's last_seq",
        )
    if kept_format != fmt:
        raise DuplicateFrameError(
            "seq",
            f"message {message.get('seq')} was applied already; its reply was in format {kept_format}, "
            f"not {fmt}: go on with the next message",
        )
    return duplicate


def tracked_masks(result: FrameResult, fmt: str) -> list[TrackedMask]:
    """Every object of a tracker result with its mask in ``fmt``."""
    objects = []
    for r in result.objects:
        mask = (r.logits > 0).cpu().numpy()
        objects.append(
            TrackedMask(
                obj_id=r.obj_id,
                mask=encode_mask(mask, fmt),
                score=round(r.score, 6),
                object_score=round(r.object_score, 6),
                visible=bool(r.visible),
                area=int(np.count_nonzero(mask)),
            )
        )
    return objects


def frame_reply(fmt: str, seq: int | None) -> PendingReply:
    return PendingReply(
        fmt, seq, "frame", lambda result: FrameReply(frame_idx=result.frame_idx, objects=tracked_masks(result, fmt))
    )


def masks_reply(fmt: str, seq: int | None) -> PendingReply:
    return PendingReply(
        fmt, seq, "masks", lambda result: MasksReply(frame_idx=result.frame_idx, objects=tracked_masks(result, fmt))
    )


def removed_reply(fmt: str, seq: int | None, obj_id: int) -> PendingReply:
    return PendingReply(fmt, seq, "removed", lambda _: Removed(obj_id=obj_id))


def reset_reply(fmt: str, seq: int | None) -> PendingReply:
    return PendingReply(fmt, seq, "reset", lambda _: ResetDone())


def started(session: str, fmt: str, status) -> Started:
    """``status``: where the session stands (``VideoSessions.SessionStatus``)."""
    return Started(session=session, format=fmt, **_status_fields(status))


def session_out(session: str, status, info) -> SessionOut:
    return SessionOut(
        session=session,
        **_status_fields(status),
        bytes=info.bytes,
        frame_bytes=info.frame_bytes,
        ttl_s=round(info.ttl_s, 3),
        version=info.version,
    )


def _status_fields(status) -> dict:
    return {
        "frame_idx": status.frame_idx,
        "frames_processed": status.frame_idx + 1,
        "objects": status.objects,
        "refine": status.switches.any(),
        "modules": status.switches.as_dict(),
        "last_seq": status.last_seq,
    }


def observed_ms(seconds: dict[str, float]) -> dict[str, float]:
    """Feeds the per-stage histogram; the reply's timings in ms."""
    for stage, s in seconds.items():
        metrics.VIDEO_STAGE_SECONDS.labels(stage).observe(s)
    return {k: round(v * 1000, 3) for k, v in seconds.items()}


def wire(message: BaseModel) -> str:
    """A server message as the JSON text sent (fields that do not apply are absent)."""
    return message.model_dump_json()


# ------------------------------------------------------------------ the document
def protocol_document() -> dict:
    """The protocol as one JSON Schema (2020-12): ``$defs.ClientMessage`` and ``$defs.ServerMessage`` are the two
    unions, each with its discriminator mapping from ``type`` to the message's schema; the document itself accepts
    any message of either."""
    schemas, defs = TypeAdapter.json_schemas(
        [("client", "validation", CLIENT_MESSAGES), ("server", "validation", SERVER_MESSAGES)],
        ref_template="#/$defs/{model}",
    )
    defs = defs.get("$defs", {})
    defs["ClientMessage"] = {
        "description": "A text message from the client: a JSON object with a type.",
        **schemas[("client", "validation")],
    }
    defs["ServerMessage"] = {
        "description": "Every reply of the server (one per client message; a frame header and its frame count as one).",
        **schemas[("server", "validation")],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "SAM2Refiner video protocol (WebSocket /video/{session})",
        "description": (
            "Text messages are JSON objects discriminated on type (ClientMessage, ServerMessage). Each binary "
            "message is one encoded frame (JPEG, PNG or WebP; every frame of a session the same size), answered "
            "with a frame reply; a frame header sent just before it gives it a seq. Every client message gets "
            "exactly one reply; an error reply changes nothing."
        ),
        "anyOf": [{"$ref": "#/$defs/ClientMessage"}, {"$ref": "#/$defs/ServerMessage"}],
        "$defs": defs,
    }
