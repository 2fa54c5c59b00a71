"""Video sessions: for each message, take the session's lease, load its state, run the tracker, save the state.

    sessions = VideoSessions(engine, settings)          # the store: Redis when settings.redis_url is set
    await sessions.start("cam-1", refine=True)           # creates the session, or resumes a stored one
    reply = await sessions.frame("cam-1", jpeg_bytes)    # tracks every object into the new frame
    reply = await sessions.prompt("cam-1", frame_idx, [ObjectPrompt(...)])

Torch runs on the engine's device worker; Redis I/O on a thread of the pool. A message that fails (bad input,
store down, another worker in between) saves nothing, so the stored session stays as it was. This worker keeps
the current frame's encoder features of recent sessions; a prompt that reaches another worker re-encodes the
current frame from the bytes saved with the state.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import anyio
import numpy as np
from starlette.concurrency import run_in_threadpool

from model.errors import InvalidInputError
from model.video import ObjectPrompt, StreamingTracker, TrackerState
from model.video.codec import StateFormatError, model_fingerprint

from . import metrics
from .errors import InvalidFieldError, PayloadTooLargeError, UnknownIdError
from .images import decode_image_bytes
from .mask_codecs import decode_mask, encode_mask
from .settings import Settings
from .state_store import StateStoreError, StateStoreUnavailable, make_state_store

FEATURE_COPIES = 8  # sessions whose current-frame features this worker keeps


@dataclass
class SessionOptions:
    refine: bool = True
    format: str = "rle"


@dataclass
class VideoReply:
    frame_idx: int
    objects: list[dict]
    timings: dict[str, float] = field(default_factory=dict)


class VideoSessions:
    def __init__(self, engine, settings: Settings, store=None):
        self.engine = engine
        self.settings = settings
        self.tracker = StreamingTracker(engine.model, settings.video_max_cond_frames)
        self.store = store or make_state_store(
            settings.redis_url or None, model_fingerprint(engine.model), settings.video_ttl_s, settings.video_lease_s,
            settings.video_key_prefix,
        )
        # session -> (frame index, digest of the frame's bytes, FrameFeatures) of its current frame
        self._features: OrderedDict[str, tuple[int, bytes, object]] = OrderedDict()
        self._bytes: dict[str, int] = {}

    # ------------------------------------------------------------------ operations
    async def start(self, session: str, refine: bool) -> dict:
        """Creates the session, or returns where a stored one stands (its stored options win)."""

        def op(stored):
            if stored is not None:  # a reconnect: the stored session goes on as it was
                self.store.touch(session)
                return None, stored.state
            return self.tracker.new_state(refine=refine), None

        state, _ = await self._run(session, op, create=True)
        return self.describe_state(state)

    async def frame(self, session: str, raw: bytes, fmt: str) -> VideoReply:
        if len(raw) > self.settings.video_max_frame_bytes:
            raise PayloadTooLargeError("frame", f"{len(raw)} bytes is over the limit of {self.settings.video_max_frame_bytes}")
        start = time.perf_counter()
        pixels = await run_in_threadpool(decode_image_bytes, raw, self.settings.max_image_pixels, "frame")
        decode_s = time.perf_counter() - start

        def op(stored):
            state = stored.state
            if state.orig_hw is not None and tuple(pixels.shape[:2]) != tuple(state.orig_hw):
                raise InvalidFieldError("frame", f"frame is {pixels.shape[1]}x{pixels.shape[0]}, the session's frames are "
                                                 f"{state.orig_hw[1]}x{state.orig_hw[0]}")
            t = time.perf_counter()
            feats = self.tracker.encode_frame(pixels, state.switches)
            encode_s = time.perf_counter() - t
            new_state, result = self.tracker.step(state, feats)
            result.timings["encode"] = encode_s
            self._keep_features(session, new_state.frame_idx, raw, feats)
            return new_state, result

        _, result = await self._run(session, op, frame=raw)
        result.timings["decode_frame"] = decode_s
        metrics.VIDEO_FRAMES.inc()
        return await self._reply(result, fmt)

    async def prompt(self, session: str, frame_idx: int | None, objects: list[dict], fmt: str) -> VideoReply:
        """``objects``: [{"obj_id", "points", "labels", "box", "mask" (in ``fmt``)}], already type-checked."""

        def op(stored):
            state = stored.state
            if state.frame_idx < 0:
                raise InvalidFieldError("frame_idx", "no frame has been sent yet: send a frame, then prompt on it")
            if frame_idx is not None and frame_idx != state.frame_idx:
                raise InvalidFieldError("frame_idx", f"prompts apply to the current frame {state.frame_idx}, not {frame_idx}")
            prompts = [self._object_prompt(i, o, fmt, state.orig_hw) for i, o in enumerate(objects)]
            feats = self._current_features(session, stored)
            try:
                return self.tracker.prompt(state, feats, prompts)
            except InvalidInputError as e:
                raise InvalidFieldError(f"objects.{e.argument}", e.detail) from e

        _, result = await self._run(session, op, keep_frame=True)
        return await self._reply(result, fmt)

    async def remove(self, session: str, obj_id: int) -> None:
        def op(stored):
            try:
                return self.tracker.remove_object(stored.state, obj_id), None
            except InvalidInputError as e:
                raise InvalidFieldError("obj_id", e.detail) from e

        await self._run(session, op, keep_frame=True)

    async def reset(self, session: str) -> None:
        await self._run(session, lambda stored: (self.tracker.reset(stored.state), None), keep_frame=True)

    async def info(self, session: str) -> dict:
        stored, info = await run_in_threadpool(self._load_with_info, session)
        return {**self.describe_state(stored.state), "session": session, "bytes": info.bytes,
                "frame_bytes": info.frame_bytes, "ttl_s": round(info.ttl_s, 3),
                "version": info.version}

    async def delete(self, session: str) -> bool:
        self._forget(session)
        return await run_in_threadpool(self._store_call, self.store.delete, session)

    def describe_state(self, state: TrackerState) -> dict:
        return {
            "frame_idx": state.frame_idx,
            "frames_processed": state.frame_idx + 1,
            "objects": list(state.objects),
            "refine": state.switches.any(),
        }

    # ------------------------------------------------------------------ internals
    async def _run(self, session: str, op, create: bool = False, frame: bytes | None = None, keep_frame: bool = False):
        """Lease, load, ``op(stored)`` on the device worker, save. ``op`` returns (new state or None, result)."""

        def locked():
            with self.store.lease(session):
                t = time.perf_counter()
                stored = self.store.load(session)
                load_s = time.perf_counter() - t
                if stored is None and not create:
                    raise UnknownIdError("session", f"session {session} does not exist (expired or closed): send start")
                (state, result), _ = anyio.from_thread.run(self.engine.worker.submit, lambda: op(stored))
                if state is None:
                    return stored.state if stored else None, result
                t = time.perf_counter()
                saved_frame = stored.frame if keep_frame and stored else frame
                self.store.save(session, state, saved_frame, stored.version if stored else 0)
                save_s = time.perf_counter() - t
                if result is not None:
                    result.timings.update(state_load=load_s, state_save=save_s)
                self._account(session, state.nbytes())
                return state, result

        return await run_in_threadpool(self._store_call, locked)

    def _store_call(self, fn, *args):
        """Runs a store operation, counting store failures by kind."""
        try:
            return fn(*args)
        except StateStoreUnavailable:
            metrics.VIDEO_STORE_ERRORS.labels("unavailable").inc()
            raise
        except StateStoreError as e:
            metrics.VIDEO_STORE_ERRORS.labels(e.code).inc()
            raise
        except StateFormatError as e:
            metrics.VIDEO_STORE_ERRORS.labels("format").inc()
            raise InvalidFieldError("session", str(e)) from e

    @staticmethod
    def _object_prompt(i: int, o: dict, fmt: str, orig_hw) -> ObjectPrompt:
        mask = None
        if o.get("mask") is not None:
            try:
                mask = decode_mask(o["mask"], fmt, *orig_hw)
            except (InvalidFieldError, ValueError, KeyError, TypeError) as e:
                detail = e.message if isinstance(e, InvalidFieldError) else str(e)
                raise InvalidFieldError(f"objects.{i}.mask", f"not a valid {fmt} mask: {detail}") from e
            if mask.shape != tuple(orig_hw):
                raise InvalidFieldError(f"objects.{i}.mask", f"mask is {mask.shape[1]}x{mask.shape[0]}, the frame is {orig_hw[1]}x{orig_hw[0]}")
        return ObjectPrompt(o["obj_id"], o.get("points"), o.get("labels"), o.get("box"), mask)

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

    def _account(self, session: str, nbytes: int) -> None:
        metrics.VIDEO_STATE_BYTES.inc(nbytes - self._bytes.get(session, 0))
        self._bytes[session] = nbytes

    def _forget(self, session: str) -> None:
        self._features.pop(session, None)
        metrics.VIDEO_STATE_BYTES.dec(self._bytes.pop(session, 0))

    async def _reply(self, result, fmt: str) -> VideoReply:
        def encode():
            objects = []
            for r in result.objects:
                mask = (r.logits > 0).cpu().numpy()
                objects.append({
                    "obj_id": r.obj_id, "mask": encode_mask(mask, fmt), "score": round(r.score, 6),
                    "object_score": round(r.object_score, 6), "visible": bool(r.visible), "area": int(np.count_nonzero(mask)),
                })
            return objects

        t = time.perf_counter()
        objects = await run_in_threadpool(encode)
        timings = {**result.timings, "encode_output": time.perf_counter() - t}
        for stage, seconds in timings.items():
            metrics.VIDEO_STAGE_SECONDS.labels(stage).observe(seconds)
        return VideoReply(result.frame_idx, objects, {k: round(v * 1000, 3) for k, v in timings.items()})


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()
