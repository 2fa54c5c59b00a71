"""Video sessions: for each message, take the session's lease, load its state, run the tracker, save the state.

    sessions = VideoSessions(runtime, settings)             # the store: Redis when settings.redis_url is set
    await sessions.start("cam-1", refine=True)               # creates the session, or resumes a stored one
    reply = await sessions.frame("cam-1", jpeg_bytes, "rle", seq=7)   # tracks every object into the new frame
    reply = await sessions.prompt("cam-1", frame_idx, [{"obj_id": 1, "points": ...}], "rle")

Each operation returns the client's reply message. Torch runs on the runtime's device worker; Redis I/O on a
thread of the pool. A message that fails (bad input, store down, another worker in between) saves nothing, so
the stored session stays as it was. A message with a client sequence number ``seq`` is saved together with its
reply, in the same transaction as the state: a resend of it (the client lost the reply) gets that reply again
instead of being applied twice. This worker keeps the current frame's encoder features of recent sessions; a
prompt that reaches another worker re-encodes the current frame from the bytes saved with the state.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import numpy as np
from starlette.concurrency import run_in_threadpool

from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.errors import InvalidInputError
from sam2refiner.model.prompts import check_boxes, check_mask_size, check_points
from sam2refiner.model.video import StreamingTracker, TrackPrompt
from sam2refiner.model.video.codec import StateFormatError, model_fingerprint

from ..core import metrics
from ..core.errors import DuplicateFrameError, InvalidFieldError, PayloadTooLargeError, UnknownIdError
from ..core.images import decode_image_bytes
from ..core.masks import decode_mask, encode_mask
from ..core.runtime import Runtime
from ..core.settings import Settings
from . import pause_point
from .store import AppliedMessage, StateStoreError, StoredSession, make_state_store

FEATURE_COPIES = 8  # sessions whose current-frame features this worker keeps


@dataclass
class SessionOptions:
    refine: bool | RefinerSwitches = True  # or the session's module set
    format: str = "rle"


class VideoSessions:
    def __init__(self, runtime: Runtime, settings: Settings, store=None):
        self.runtime = runtime
        self.settings = settings
        self.tracker = StreamingTracker(runtime.model, settings.video_max_cond_frames)
        self.store = store or make_state_store(
            settings.redis_url or None,
            model_fingerprint(runtime.model),
            settings.video_ttl_s,
            settings.video_lease_s,
            settings.video_key_prefix,
            settings.redis_timeout_s,
        )
        # session -> (frame index, digest of the frame's bytes, FrameFeatures) of its current frame
        self._features: OrderedDict[str, tuple[int, bytes, object]] = OrderedDict()

    def refresh_metrics(self) -> None:
        """The state-bytes gauge from the sessions this process holds now (expired ones drop out)."""
        metrics.VIDEO_STATE_BYTES.set(self.store.held_bytes())

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ operations
    async def start(self, session: str, refine: bool | RefinerSwitches) -> dict:
        """Creates the session, or returns where a stored one stands (its stored options win)."""

        def op(stored):
            if stored is not None:  # a reconnect: the stored session goes on as it was
                self.store.touch(session)
                return None, None
            return self.tracker.new_state(refine=refine), None

        outcome = await self._run(session, op, create=True)
        return self.describe(outcome.stored)

    async def frame(self, session: str, raw: bytes, fmt: str, seq: int | None = None) -> dict:
        if len(raw) > self.settings.video_max_frame_bytes:
            raise PayloadTooLargeError(
                "frame", f"{len(raw)} bytes is over the limit of {self.settings.video_max_frame_bytes}"
            )
        start = time.perf_counter()
        pixels = await run_in_threadpool(decode_image_bytes, raw, self.settings.max_image_pixels, "frame")
        decode_s = time.perf_counter() - start

        def op(stored):
            state = stored.state
            if state.orig_hw is not None and tuple(pixels.shape[:2]) != tuple(state.orig_hw):
                raise InvalidFieldError(
                    "frame",
                    f"frame is {pixels.shape[1]}x{pixels.shape[0]}, the session's frames are "
                    f"{state.orig_hw[1]}x{state.orig_hw[0]}",
                )
            if pause_point.ENABLED:  # fault tests only: the lease held, the state loaded, nothing tracked yet
                pause_point.frame(session, state.frame_idx + 1)
            t = time.perf_counter()
            feats = self.tracker.encode_frame(pixels, state.switches)
            encode_s = time.perf_counter() - t
            new_state, result = self.tracker.step(state, feats)
            result.timings.update(decode_frame=decode_s, encode=encode_s)
            self._keep_features(session, new_state.frame_idx, raw, feats)
            return new_state, result

        reply = (await self._run(session, op, _masks_reply("frame", fmt), seq=seq, fmt=fmt, frame=raw)).reply
        if not reply.get("duplicate"):
            metrics.VIDEO_FRAMES.inc()
        return reply

    async def prompt(
        self, session: str, frame_idx: int | None, objects: list[dict], fmt: str, seq: int | None = None
    ) -> dict:
        """``objects``: [{"obj_id", "points", "labels", "box", "mask" (in ``fmt``)}], already type-checked."""

        def op(stored):
            state = stored.state
            if state.frame_idx < 0:
                raise InvalidFieldError("frame_idx", "no frame has been sent yet: send a frame, then prompt on it")
            if frame_idx is not None and frame_idx != state.frame_idx:
                raise InvalidFieldError(
                    "frame_idx", f"prompts apply to the current frame {state.frame_idx}, not {frame_idx}"
                )
            added = {o["obj_id"] for o in objects} - set(state.objects)
            if len(state.objects) + len(added) > self.settings.video_max_objects:
                raise InvalidFieldError(
                    "objects",
                    f"the session tracks {len(state.objects)} objects; {len(added)} more "
                    f"would pass the limit of {self.settings.video_max_objects} per session",
                )
            prompts = [self._object_prompt(i, o, fmt, state.orig_hw) for i, o in enumerate(objects)]
            feats = self._current_features(session, stored)
            try:
                return self.tracker.prompt(state, feats, prompts)
            except InvalidInputError as e:
                raise InvalidFieldError(f"objects.{e.argument}", e.detail) from e

        return (await self._run(session, op, _masks_reply("masks", fmt), seq=seq, fmt=fmt, keep_frame=True)).reply

    async def remove(self, session: str, obj_id: int, seq: int | None = None) -> dict:
        def op(stored):
            try:
                return self.tracker.remove_object(stored.state, obj_id), None
            except InvalidInputError as e:
                raise InvalidFieldError("obj_id", e.detail) from e

        return (
            await self._run(session, op, lambda _: {"type": "removed", "obj_id": obj_id}, seq=seq, keep_frame=True)
        ).reply

    async def reset(self, session: str, seq: int | None = None) -> dict:
        outcome = await self._run(
            session,
            lambda stored: (self.tracker.reset(stored.state), None),
            lambda _: {"type": "reset"},
            seq=seq,
            keep_frame=True,
        )
        return outcome.reply

    async def info(self, session: str) -> dict:
        stored, info = await run_in_threadpool(self._load_with_info, session)
        return {
            **self.describe(stored),
            "session": session,
            "bytes": info.bytes,
            "frame_bytes": info.frame_bytes,
            "ttl_s": round(info.ttl_s, 3),
            "version": info.version,
        }

    async def delete(self, session: str) -> bool:
        self._features.pop(session, None)
        try:
            return await run_in_threadpool(self._store_call, self.store.delete, session)
        finally:
            self.refresh_metrics()

    @staticmethod
    def describe(stored: StoredSession) -> dict:
        """Where a session stands: what ``started`` and ``GET /video/{session}`` report."""
        state = stored.state
        return {
            "frame_idx": state.frame_idx,
            "frames_processed": state.frame_idx + 1,
            "objects": list(state.objects),
            "refine": state.switches.any(),
            "modules": state.switches.as_dict(),  # what the session runs: the request, limited to the refiner's
            "last_seq": stored.applied.seq if stored.applied else None,
        }

    # ------------------------------------------------------------------ internals
    async def _run(
        self,
        session: str,
        op,
        reply: Callable[[object], dict] | None = None,
        *,
        seq: int | None = None,
        fmt: str = "rle",
        create: bool = False,
        frame: bytes | None = None,
        keep_frame: bool = False,
    ) -> _Outcome:
        """Lease, load, ``op(stored)`` on the device worker, the reply, save; the stored session and the reply.

        ``op`` returns (new state or None for no change, result); ``reply(result)`` makes the client's message.
        With a ``seq`` the reply is saved with the state, and a ``seq`` already applied is answered from there.
        """

        def locked():
            with self.store.lease(session):
                t = time.perf_counter()
                stored = self.store.load(session)
                load_s = time.perf_counter() - t
                if stored is None and not create:
                    raise UnknownIdError("session", f"session {session} does not exist (expired or closed): send start")
                if seq is not None and stored is not None:
                    replayed = _replay(stored, seq, fmt)
                    if replayed is not None:
                        return _Outcome(stored, replayed)
                (state, result), _ = anyio.from_thread.run(self.runtime.worker.submit, lambda: op(stored))
                message = reply(result) if reply is not None else {}
                if seq is not None:
                    message["seq"] = seq
                if state is None:
                    return _Outcome(stored, message)
                applied = (
                    None
                    if seq is None
                    else AppliedMessage(seq, json.dumps({"format": fmt, "message": message}).encode())
                )
                t = time.perf_counter()
                saved_frame = stored.frame if keep_frame and stored else frame
                saved = self.store.save(session, state, saved_frame, stored, applied)
                if result is not None:
                    result.timings.update(state_load=load_s, state_save=time.perf_counter() - t)
                    message["timings"] = _observed_ms(result.timings)
                return _Outcome(saved, message)

        try:
            return await run_in_threadpool(self._store_call, locked)
        finally:
            self.refresh_metrics()

    def _store_call(self, fn, *args):
        """Runs a store operation, counting store failures by kind."""
        try:
            return fn(*args)
        except StateStoreError as e:
            metrics.VIDEO_STORE_ERRORS.labels(e.kind).inc()
            raise
        except StateFormatError as e:
            metrics.VIDEO_STORE_ERRORS.labels("format").inc()
            raise InvalidFieldError("session", str(e)) from e

    @staticmethod
    def _object_prompt(i: int, o: dict, fmt: str, orig_hw) -> TrackPrompt:
        mask = None
        if o.get("mask") is not None:
            try:
                mask = decode_mask(o["mask"], fmt, *orig_hw)
            except (InvalidFieldError, ValueError, KeyError, TypeError) as e:
                detail = e.message if isinstance(e, InvalidFieldError) else str(e)
                raise InvalidFieldError(f"objects.{i}.mask", f"not a valid {fmt} mask: {detail}") from e
        # The frame-dependent checks, with the message's field names (the tracker checks again, by its own names).
        where = f"objects.{i}"
        if mask is not None:
            check_mask_size(mask.shape, orig_hw, f"{where}.mask")
        if o.get("points") is not None:
            check_points(
                o["points"], o.get("labels"), orig_hw, points_arg=f"{where}.points", labels_arg=f"{where}.labels"
            )
        if o.get("box") is not None:
            check_boxes(o["box"], orig_hw, f"{where}.box")
        return TrackPrompt(o["obj_id"], o.get("points"), o.get("labels"), o.get("box"), mask)

    def _load_with_info(self, session):
        stored = self._store_call(self.store.load, session)
        info = self._store_call(self.store.info, session)
        if stored is None or info is None:
            raise UnknownIdError("session", f"session {session} does not exist (expired or closed)")
        self._store_call(self.store.touch, session)
        return stored, info

    def _current_features(self, session: str, stored):
        if stored.frame is None:
            raise InvalidFieldError("frame_idx", "the current frame is not stored; send the next frame, then prompt")
        cached = self._features.get(session)
        if cached is not None and cached[:2] == (stored.state.frame_idx, _digest(stored.frame)):
            return cached[2]
        pixels = decode_image_bytes(stored.frame, self.settings.max_image_pixels, "frame")
        feats = self.tracker.encode_frame(pixels, stored.state.switches)
        self._keep_features(session, stored.state.frame_idx, stored.frame, feats)
        return feats

    def _keep_features(self, session, frame_idx, raw: bytes, feats):
        self._features[session] = (frame_idx, _digest(raw), feats)
        self._features.move_to_end(session)
        while len(self._features) > FEATURE_COPIES:
            self._features.popitem(last=False)


@dataclass
class _Outcome:
    stored: StoredSession | None  # as stored after the message
    reply: dict  # the client's message


def _masks_reply(kind: str, fmt: str) -> Callable[[object], dict]:
    """The ``frame`` / ``masks`` message of a tracker result, its masks in the session's format."""

    def build(result) -> dict:
        t = time.perf_counter()
        objects = []
        for r in result.objects:
            mask = (r.logits > 0).cpu().numpy()
            objects.append(
                {
                    "obj_id": r.obj_id,
                    "mask": encode_mask(mask, fmt),
                    "score": round(r.score, 6),
                    "object_score": round(r.object_score, 6),
                    "visible": bool(r.visible),
                    "area": int(np.count_nonzero(mask)),
                }
            )
        result.timings["encode_output"] = time.perf_counter() - t
        return {"type": kind, "frame_idx": result.frame_idx, "objects": objects}

    return build


def _replay(stored: StoredSession, seq: int, fmt: str) -> dict | None:
    """The kept reply to a resent message; None for a message not applied yet."""
    applied = stored.applied
    if applied is None or seq > applied.seq:
        return None
    if seq == applied.seq:
        kept = json.loads(applied.reply)
        if kept["format"] == fmt:
            return {**kept["message"], "duplicate": True, "timings": {}}  # nothing ran this time
        raise DuplicateFrameError(
            "seq",
            f"message {seq} was applied already; its reply was in format {kept['format']}, "
            f"not {fmt}: go on with the next message",
        )
    raise DuplicateFrameError(
        "seq",
        f"message {seq} was applied already (the last applied is {applied.seq}) and its "
        "reply is no longer kept: go on with the next message",
    )


def _observed_ms(timings: dict[str, float]) -> dict[str, float]:
    """Feeds the per-stage histogram; the reply's timings in ms."""
    for stage, seconds in timings.items():
        metrics.VIDEO_STAGE_SECONDS.labels(stage).observe(seconds)
    return {k: round(v * 1000, 3) for k, v in timings.items()}


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()
