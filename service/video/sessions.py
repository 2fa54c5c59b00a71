"""Video sessions: for each message, take the session's lease, load its state, run the tracker on the device
worker, save the state. The outcome is the tracker's result; the router and ``protocol.py`` make the wire messages.

    sessions = VideoSessions(runtime, settings)                   # the store: Redis when settings.redis_url is set
    status = await sessions.start("cam-1", refine=True)           # creates the session, or resumes a stored one
    applied = await sessions.frame("cam-1", jpeg, pixels, reply, Numbered(7, digest))  # every object tracked
    applied = await sessions.prompt("cam-1", frame_idx, prompts_at, reply)

Redis I/O runs on a thread of the pool, torch on the runtime's device worker. A message that fails (bad input,
store down, another worker in between) saves nothing, so the stored session stays as it was. ``reply`` is made
while the lease is held (``Reply``): a message with a client sequence number (``Numbered``: its ``seq`` and the
digest of what it says) is saved with its reply, in the transaction that saves the state, and a resend of it (the
client lost the reply) is answered with that kept reply instead of being applied twice; another message under the
same ``seq`` is refused (``seq_conflict``), never answered with that reply. This worker keeps the current frame's encoder features of recent sessions;
a prompt that reaches another worker re-encodes the current frame from the bytes saved with the state.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import numpy as np
from starlette.concurrency import run_in_threadpool

from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.errors import InvalidInputError
from sam2refiner.model.video import FrameResult, StreamingTracker, TrackPrompt
from sam2refiner.model.video.codec import model_fingerprint

from ..core import metrics
from ..core.errors import DuplicateFrameError, InvalidFieldError, SeqConflictError, UnknownIdError
from ..core.images import decode_image_bytes
from ..core.runtime import Runtime
from ..core.settings import Settings
from ..core.worker import STREAM
from . import pause_point
from .store import AppliedMessage, SessionInfo, StateStoreError, StoredSession, make_state_store

FEATURE_COPIES = 8  # sessions whose current-frame features this worker keeps

# The prompts of a message checked against the session's frame size (height, width).
PromptsAt = Callable[[tuple[int, int]], list[TrackPrompt]]


class Reply(Protocol):
    """A message's reply, made while the session's lease is held."""

    def make(self, result: FrameResult | None) -> None:
        """Builds the reply from the tracker's result (None for messages without masks)."""

    def kept(self) -> bytes:
        """The reply as kept with the message's ``seq`` (sent again to a resend)."""


@dataclass(frozen=True)
class Numbered:
    """A client message's sequence number and the digest of what it says: a resend has both the same."""

    seq: int
    digest: str


@dataclass
class SessionStatus:
    """Where a session stands (what ``started`` and ``GET /video/{session}`` report)."""

    frame_idx: int  # -1 before the first frame
    objects: list[int]
    switches: RefinerSwitches  # the modules the session runs
    last_seq: int | None  # of the last message applied with a seq

    @classmethod
    def of(cls, stored: StoredSession) -> SessionStatus:
        state = stored.state
        return cls(state.frame_idx, list(state.objects), state.switches, stored.applied.seq if stored.applied else None)


@dataclass
class Applied:
    """What a message did: the tracker's result (None for messages without masks), or for a resend of a message
    applied before the reply kept then (nothing ran this time)."""

    result: FrameResult | None = None
    kept: bytes | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, with state_load and state_save


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
        # frames of different sessions per encoder call: the model's own policy (all on a GPU, one on a CPU)
        self.encoder_batch = settings.video_encoder_batch or runtime.model.encoder_batch()

    def refresh_metrics(self) -> None:
        """The state-bytes gauge from the sessions this process holds now (expired ones drop out)."""
        metrics.VIDEO_STATE_BYTES.set(self.store.held_bytes())

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ operations
    async def start(self, session: str, refine: bool | RefinerSwitches) -> SessionStatus:
        """Creates the session, or returns where a stored one stands (its stored options win)."""

        def plan(stored):
            if stored is not None:  # a reconnect: the stored session goes on as it was
                self.store.touch(session)
                return None
            return lambda: (self.tracker.new_state(refine=refine), None)

        stored, _ = await self._run(session, plan, create=True)
        return SessionStatus.of(stored)

    async def frame(
        self, session: str, raw: bytes, pixels: np.ndarray, reply: Reply, numbered: Numbered | None = None
    ) -> Applied:
        """Tracks every object into a new frame: ``pixels`` decoded from ``raw`` (kept as the current frame)."""

        def plan(stored):
            state = stored.state
            if state.orig_hw is not None and tuple(pixels.shape[:2]) != tuple(state.orig_hw):
                raise InvalidFieldError(
                    "frame",
                    f"frame is {pixels.shape[1]}x{pixels.shape[0]}, the session's frames are "
                    f"{state.orig_hw[1]}x{state.orig_hw[0]}",
                )

            async def track():
                # Two device jobs on the worker's stream lane, so that a click queued meanwhile runs between them
                # (and before the frames of other sessions): the encoder, shared with the frames of other sessions
                # waiting at the same moment (one batch, as the model batches its encoder on this device), then
                # the tracking step.
                worker = self.runtime.worker
                if pause_point.ENABLED:  # fault tests only: the lease held, the state loaded, nothing tracked yet
                    await worker.submit(lambda: pause_point.frame(session, state.frame_idx + 1), lane=STREAM)
                (feats, encode_s), _, _ = await worker.submit_batched(
                    ("video-encode", state.switches),
                    pixels,
                    functools.partial(self._encode_frames, state.switches),
                    lane=STREAM,
                    max_batch=self.encoder_batch,
                )
                (new_state, result), _ = await worker.submit(lambda: self.tracker.step(state, feats), lane=STREAM)
                result.timings["encode"] = encode_s
                self._keep_features(session, new_state.frame_idx, raw, feats)
                return new_state, result

            return track

        return (await self._run(session, plan, reply, numbered=numbered, frame=raw))[1]

    async def prompt(
        self,
        session: str,
        frame_idx: int | None,
        prompts_at: PromptsAt,
        reply: Reply,
        numbered: Numbered | None = None,
    ) -> Applied:
        """Applies prompts on the current frame (``frame_idx``, if given, must be it); ``prompts_at(frame_hw)`` gives
        them checked against the session's frame size, mask prompts decoded (in a thread of the pool: the device
        worker only tracks)."""

        def plan(stored):
            state = stored.state
            if state.frame_idx < 0:
                raise InvalidFieldError("frame_idx", "no frame has been sent yet: send a frame, then prompt on it")
            if frame_idx is not None and frame_idx != state.frame_idx:
                raise InvalidFieldError(
                    "frame_idx", f"prompts apply to the current frame {state.frame_idx}, not {frame_idx}"
                )
            prompts = prompts_at(tuple(state.orig_hw))
            added = {p.obj_id for p in prompts} - set(state.objects)
            if len(state.objects) + len(added) > self.settings.video_max_objects:
                raise InvalidFieldError(
                    "objects",
                    f"the session tracks {len(state.objects)} objects; {len(added)} more "
                    f"would pass the limit of {self.settings.video_max_objects} per session",
                )

            def track():
                feats = self._current_features(session, stored)
                try:
                    return self.tracker.prompt(state, feats, prompts)
                except InvalidInputError as e:
                    raise InvalidFieldError(f"objects.{e.argument}", e.detail) from e

            return track

        return (await self._run(session, plan, reply, numbered=numbered, keep_frame=True))[1]

    async def remove(self, session: str, obj_id: int, reply: Reply, numbered: Numbered | None = None) -> Applied:
        def plan(stored):
            def remove():
                try:
                    return self.tracker.remove_object(stored.state, obj_id), None
                except InvalidInputError as e:
                    raise InvalidFieldError("obj_id", e.detail) from e

            return remove

        return (await self._run(session, plan, reply, numbered=numbered, keep_frame=True))[1]

    async def reset(self, session: str, reply: Reply, numbered: Numbered | None = None) -> Applied:
        def plan(stored):
            return lambda: (self.tracker.reset(stored.state), None)

        return (await self._run(session, plan, reply, numbered=numbered, keep_frame=True))[1]

    async def info(self, session: str) -> tuple[SessionStatus, SessionInfo]:
        """Where the session stands and what it holds; renews its TTL."""
        stored, info = await run_in_threadpool(self._load_with_info, session)
        return SessionStatus.of(stored), info

    async def delete(self, session: str) -> bool:
        self._features.pop(session, None)
        try:
            return await run_in_threadpool(self._store_call, self.store.delete, session)
        finally:
            self.refresh_metrics()

    # ------------------------------------------------------------------ internals
    async def _run(
        self,
        session: str,
        plan,
        reply: Reply | None = None,
        *,
        numbered: Numbered | None = None,
        create: bool = False,
        frame: bytes | None = None,
        keep_frame: bool = False,
    ) -> tuple[StoredSession, Applied]:
        """Lease, load, ``plan(stored)``, its job on the device worker, ``reply``, save; the stored session and the
        outcome.

        ``plan`` runs here, in a thread of the pool under the lease: the checks against the stored session and any
        decoding, then it returns the device worker's job (None: nothing to run, nothing changes), or a coroutine
        function that submits its device jobs itself. The job returns
        (new state or None for no change, the tracker's result or None). A ``numbered`` message's reply is saved
        with the state, and a resend of the message applied last is answered with the kept reply.
        """

        def locked():
            with self.store.lease(session):
                t = time.perf_counter()
                stored = self.store.load(session)
                load_s = time.perf_counter() - t
                if stored is None and not create:
                    raise UnknownIdError("session", f"session {session} does not exist (expired or closed): send start")
                if numbered is not None and stored is not None:
                    kept = _kept_reply(stored, numbered)
                    if kept is not None:
                        return stored, Applied(kept=kept)
                job = plan(stored)
                if job is None:
                    return stored, Applied()
                if inspect.iscoroutinefunction(job):  # a job of several device jobs, which it submits itself
                    state, result = anyio.from_thread.run(job)
                else:
                    (state, result), _ = anyio.from_thread.run(self.runtime.worker.submit, job)
                if reply is not None:
                    reply.make(result)
                if state is None:
                    return stored, Applied(result)
                applied = None if numbered is None else AppliedMessage(numbered.seq, numbered.digest, reply.kept())
                t = time.perf_counter()
                saved_frame = stored.frame if keep_frame and stored else frame
                saved = self.store.save(session, state, saved_frame, stored, applied)
                timings = {}
                if result is not None:
                    timings = {**result.timings, "state_load": load_s, "state_save": time.perf_counter() - t}
                return saved, Applied(result, timings=timings)

        try:
            return await run_in_threadpool(self._store_call, locked)
        finally:
            self.refresh_metrics()

    def _store_call(self, fn, *args):
        """Runs a store operation, counting store failures by kind."""
        try:
            return fn(*args)
        except StateStoreError as e:  # a state that does not decode is one too (UnreadableSessionError)
            metrics.VIDEO_STORE_ERRORS.labels(e.kind).inc()
            raise

    def _load_with_info(self, session):
        stored = self._store_call(self.store.load, session)
        info = self._store_call(self.store.info, session)
        if stored is None or info is None:
            raise UnknownIdError("session", f"session {session} does not exist (expired or closed)")
        self._store_call(self.store.touch, session)
        return stored, info

    def _encode_frames(self, switches: RefinerSwitches, frames: list[np.ndarray]) -> list[tuple[object, float]]:
        """The device worker's batch: frames of several sessions through one encoder call; (features, seconds of
        the call) for each."""
        t = time.perf_counter()
        feats = self.tracker.encode_frames(frames, switches)
        seconds = time.perf_counter() - t
        return [(f, seconds) for f in feats]

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


def _kept_reply(stored: StoredSession, numbered: Numbered) -> bytes | None:
    """The reply kept for a resent message; None for a message not applied yet."""
    applied, seq = stored.applied, numbered.seq
    if applied is None or seq > applied.seq:
        return None
    if seq == applied.seq:
        # No digest: saved by a version that kept none; protocol.resent still checks the reply's type.
        if applied.digest is not None and applied.digest != numbered.digest:
            raise SeqConflictError(
                "seq",
                f"message {seq} was applied already and said something else: this one is not applied (another "
                "client may be sending to this session under the same numbers); number the next message above "
                f"the session's last_seq {applied.seq}",
            )
        return applied.reply
    raise DuplicateFrameError(
        "seq",
        f"message {seq} was applied already (the last applied is {applied.seq}) and its "
        "reply is no longer kept: go on with the next message",
    )


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()
