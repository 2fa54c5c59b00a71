"""File sessions: each operation takes the session's lease, loads its state, runs sam2's predictor on the device
worker, saves what changed and releases the lease.

    sessions = FileSessions(runtime, settings)           # the store: Redis when settings.redis_url is set
    video_id, session = await sessions.create(data)      # the file decoded (limits), stored with its metadata
    data = await sessions.fetch(url)                     # or the file from its URL (SAM2REFINER_VIDEO_FILE_URL_HOSTS)
    masks = await sessions.prompt(video_id, FramePrompt(frame=10, obj_id=1, points=[[x, y]], labels=[1]))
    plan = await sessions.plan_propagation(video_id, start, "both", None)
    async for line in sessions.propagate(plan): ...      # one NDJSON line per frame

A propagation is two device jobs per frame in the worker's stream lane (they run when no click waits): lease, the
frame's encoder pass, one step of sam2's ``propagate_in_video`` (every object into the frame), save of that
frame's outputs, release. Other requests' jobs (another user's click) run between two such jobs,
and any worker can continue the session from the last saved frame (a new propagation from the next frame equals
the one interrupted: sam2's step reads only stored outputs). A change to the session between two frames (a prompt
sent meanwhile) ends the propagation with ``stale_state``; a cancel (``POST .../cancel``, on any worker, or the
client closing the stream) ends it after the frame in flight. Every frame streamed is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial

import anyio
from starlette.concurrency import run_in_threadpool

from sam2refiner.model.errors import InvalidInputError
from sam2refiner.model.video.codec import model_fingerprint
from sam2refiner.model.video.offline import FileFrames, FrameMasks, FramePrompt, OfflineTracker

from ..core import metrics
from ..core.error_handlers import as_service_error
from ..core.errors import (
    InvalidFieldError,
    PayloadTooLargeError,
    SessionFullError,
    UnknownIdError,
)
from ..core.prompts import check_geometry
from ..core.runtime import Runtime
from ..core.settings import Settings
from ..core.url_fetch import UrlFetcher
from ..core.worker import STREAM
from ..video import pause_point
from ..video.store import StateStoreError, StoredSession, make_state_store
from . import protocol
from .decode import DecodeCache, DecodedVideo, VideoLimits, decode_video
from .export import exporter
from .flags import PropagationFlags
from .state import FileSession, FileSessionCodec


@dataclass
class Pass:
    """One call of sam2's propagate_in_video: from ``start``, forward or in reverse, ``max_frames`` more."""

    start: int
    reverse: bool
    max_frames: int
    frames: int  # how many frames it yields


@dataclass
class Propagation:
    video_id: str
    stored: StoredSession
    session: FileSession
    passes: list[Pass]

    @property
    def total(self) -> int:
        return sum(p.frames for p in self.passes)


EXPORT_CHUNK = 16  # frames whose masks one export job computes
# File sessions whose last state a Redis-backed worker keeps in memory (each holds its file and every tracked
# frame's outputs: far more than a WebSocket session's bounded state).
LOCAL_COPIES = 4


def url_fetcher(settings: Settings) -> UrlFetcher:
    """What fetches ``POST /videos``' URLs: from the hosts of SAM2REFINER_VIDEO_FILE_URL_HOSTS only (none unset)."""
    return UrlFetcher(
        settings.video_file_url_hosts or [],
        "SAM2REFINER_VIDEO_FILE_URL_HOSTS",
        settings.video_file_url_timeout_s,
        "video files",
    )


class FileSessions:
    def __init__(self, runtime: Runtime, settings: Settings, store=None):
        self.runtime = runtime
        self.settings = settings
        self.tracker = OfflineTracker(runtime.model)
        codec = FileSessionCodec(model_fingerprint(runtime.model), self.tracker)
        self.store = store or make_state_store(
            settings.redis_url or None,
            codec.fingerprint,
            settings.video_ttl_s,
            settings.video_lease_s,
            f"{settings.video_key_prefix}:files",
            settings.redis_timeout_s,
            codec,
            LOCAL_COPIES,
        )
        self.flags = PropagationFlags(self.store, settings.video_lease_s)
        self.decoded = DecodeCache(settings.video_file_decode_cache_bytes)
        self.limits = VideoLimits(
            settings.video_file_max_frames, settings.video_file_max_duration_s, settings.video_file_max_side
        )
        self.fetcher = url_fetcher(settings)

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ the file
    async def create(self, data: bytes) -> tuple[str, FileSession]:
        """Decodes the uploaded file (on a thread of the pool), stores it; (video id, session)."""
        if len(data) > self.settings.video_file_max_bytes:
            raise PayloadTooLargeError(
                "file", f"the file is over the limit of {self.settings.video_file_max_bytes} bytes"
            )
        self._check_cap(len(data), "the file alone")
        decoded = await run_in_threadpool(decode_video, data, self.limits, self.settings.video_file_jpeg_quality)
        video_id = uuid.uuid4().hex
        session = FileSession(decoded.info, data, self.tracker.open(self._frames(video_id, decoded)))
        await run_in_threadpool(self._store_call, self.store.save, video_id, session, None, None)
        self.decoded.put(video_id, decoded)
        return video_id, session

    async def fetch(self, url: str) -> bytes:
        """The file at ``url`` (allowed hosts only; 413 as soon as it passes the upload limit), for ``create``."""
        return await self.fetcher.fetch(url, "url", self.settings.video_file_max_bytes)

    async def get(self, video_id: str) -> tuple[FileSession, bool]:
        """The session (its TTL renewed) and whether a propagation of it runs."""

        def read():
            stored = self._load(video_id)
            self.store.touch(video_id)
            return stored.state, self.flags.running(video_id)

        return await run_in_threadpool(self._store_call, read)

    async def frame_jpeg(self, video_id: str, k: int) -> bytes:
        def read():
            stored = self._load(video_id)
            jpegs = self._decoded(video_id, stored.state).jpegs
            if not 0 <= k < len(jpegs):
                raise InvalidFieldError("frame", f"frame {k} is not in the video (frames 0 to {len(jpegs) - 1})")
            return jpegs[k]

        return await run_in_threadpool(self._store_call, read)

    async def delete(self, video_id: str) -> bool:
        """The session's keys gone (its state, lease and flags; a propagation of it ends at its next frame)."""
        self.decoded.drop(video_id)

        def delete():
            self.flags.stop(video_id)
            return self.store.delete(video_id)

        return await run_in_threadpool(self._store_call, delete)

    # ------------------------------------------------------------------ prompts and edits
    async def prompt(self, video_id: str, prompt: FramePrompt) -> dict:
        """Applies one object's prompt on any frame; that frame's masks of every object, as the reply's dict."""

        def job_of(session: FileSession):
            if (
                prompt.obj_id not in session.track.obj_ids
                and len(session.track.obj_ids) >= self.settings.video_max_objects
            ):
                raise InvalidFieldError(
                    "object_id", f"the session has {self.settings.video_max_objects} objects, the limit per session"
                )
            # Against the frame by the same check as /segment and the socket, before the device job.
            check_geometry(prompt.points, prompt.labels, prompt.box, (session.info.height, session.info.width))
            return lambda: self.tracker.prompt(session.track, prompt)

        session, masks = await run_in_threadpool(self._store_call, self._locked, video_id, job_of)
        return await run_in_threadpool(protocol.frame_out, masks, session.info)

    async def remove_object(self, video_id: str, obj_id: int) -> None:
        await run_in_threadpool(
            self._store_call, self._locked, video_id, lambda s: lambda: self.tracker.remove_object(s.track, obj_id)
        )

    async def reset(self, video_id: str) -> None:
        await run_in_threadpool(self._store_call, self._locked, video_id, lambda s: lambda: self.tracker.reset(s.track))

    async def masks(self, video_id: str, k: int) -> dict:
        """The stored masks of frame k (every object; an object without one there: empty, not visible)."""
        stored = await run_in_threadpool(self._store_call, self._load, video_id)
        session = stored.state
        if not 0 <= k < session.info.frames:
            raise InvalidFieldError("frame", f"frame {k} is not in the video (frames 0 to {session.info.frames - 1})")
        masks, _ = await self.runtime.worker.submit(lambda: self.tracker.masks(session.track, k))
        return await run_in_threadpool(protocol.frame_out, masks, session.info)

    async def export(self, video_id: str, fmt: str) -> bytes:
        """The session's masks as ``fmt`` (``export.py``), made in chunks of frames: each chunk's masks are one
        device job (clicks of other sessions run between two), written out on a thread of the pool."""
        stored = await run_in_threadpool(self._store_call, self._load, video_id)
        session = stored.state
        track = session.track
        decoded = await run_in_threadpool(self._decoded, video_id, session) if fmt == "mp4" else None
        frames = list(range(session.info.frames)) if fmt == "mp4" else track.frames_with_masks()
        out = await run_in_threadpool(exporter, fmt, session.info, video_id, track.obj_ids)
        for i in range(0, len(frames), EXPORT_CHUNK):
            chunk = frames[i : i + EXPORT_CHUNK]
            masks, _ = await self.runtime.worker.submit(lambda c=chunk: [self.tracker.masks(track, t) for t in c])
            for m in masks:
                await run_in_threadpool(out.add, m, decoded.jpegs[m.frame] if decoded else None)
        return await run_in_threadpool(out.finish)

    # ------------------------------------------------------------------ propagation
    async def plan_propagation(self, video_id: str, start: int | None, direction: str, end: int | None) -> Propagation:
        """Checks the request against the session and loads it; the passes of sam2's propagate_in_video to run."""

        def load():
            stored = self._load(video_id)
            session = stored.state.copy()
            self.tracker.open(self._frames(video_id, self._decoded(video_id, session)), session.track)
            return stored, session

        stored, session = await run_in_threadpool(self._store_call, load)
        n, prompted = session.info.frames, session.track.prompted_frames()
        if not prompted:
            raise InvalidFieldError("objects", "no object has a prompt yet: prompt one on any frame first")
        start = min(prompted) if start is None else start
        if start >= n:
            raise InvalidFieldError("start_frame", f"frame {start} is not in the video (frames 0 to {n - 1})")
        if end is not None and (end >= n or direction == "both"):
            raise InvalidFieldError("end_frame", "end_frame is a frame of the video, for forward or backward only")
        passes = []
        if direction in ("forward", "both"):
            last = n - 1 if end is None else end
            if last < start:
                raise InvalidFieldError("end_frame", "forward: end_frame must not be before start_frame")
            passes.append(Pass(start, False, last - start, last - start + 1))
        if direction in ("backward", "both"):
            first = 0 if end is None else end
            if first > start:
                raise InvalidFieldError("end_frame", "backward: end_frame must not be after start_frame")
            if start > 0:  # sam2 skips a reverse pass that starts on frame 0
                passes.append(Pass(start, True, start - first, start - first + 1))
        return Propagation(video_id, stored, session, passes)

    async def propagate(self, plan: Propagation) -> AsyncIterator[bytes]:
        """NDJSON lines: one per frame as it is stored, then ``finished`` (or ``cancelled`` / ``error``)."""
        video_id, done = plan.video_id, 0
        await run_in_threadpool(self.flags.start, video_id)
        try:
            for p in plan.passes:
                steps = self.tracker.propagate(plan.session.track, p.start, p.reverse, p.max_frames)
                for i in range(p.frames):
                    t = p.start - i if p.reverse else p.start + i
                    if await run_in_threadpool(self.flags.cancelled, video_id):
                        yield protocol.line({"cancelled": True, "done": done})
                        return
                    masks, plan.stored = await run_in_threadpool(self._store_call, self._step, plan, steps, t)
                    done += 1
                    metrics.VIDEO_FILE_FRAMES.inc()
                    out = await run_in_threadpool(protocol.frame_out, masks, plan.session.info)
                    yield protocol.line({**out, "done": done, "total": plan.total})
            yield protocol.line({"finished": True, "frames": done})
        except Exception as e:  # noqa: BLE001  (the stream is open: the error is its last line)
            error = as_service_error(e)
            yield protocol.line({"error": {"code": error.code, "field": error.field, "message": error.message}})
        finally:
            with anyio.CancelScope(shield=True):  # also when the client closed the stream
                await run_in_threadpool(self.flags.stop, video_id)

    async def cancel(self, video_id: str) -> None:
        def raise_flag():
            self._load(video_id)
            self.flags.cancel(video_id)

        await run_in_threadpool(self._store_call, raise_flag)

    def _step(self, plan: Propagation, steps, t: int) -> tuple[FrameMasks, StoredSession]:
        """One frame of a propagation under the session's lease, saved: (its masks, what is stored now)."""

        def encode():
            if pause_point.ENABLED:  # fault tests only: the lease held, nothing tracked yet
                pause_point.frame(plan.video_id, t)
            self.tracker.encode(plan.session.track, t)

        def step():
            masks = self.tracker.step(steps)
            if masks is None or masks.frame != t:
                raise RuntimeError(f"propagation expected frame {t}, sam2 gave {masks and masks.frame}")
            return masks

        # Two jobs of the stream lane (the encoder pass, then every object's tracking step), as video frames: a
        # click waits at most for the one running, never for queued propagation work.
        submit = partial(self.runtime.worker.submit, lane=STREAM)
        with self.store.lease(plan.video_id):
            self.flags.renew(plan.video_id)
            anyio.from_thread.run(submit, encode)
            masks, _ = anyio.from_thread.run(submit, step)
            self._check_cap(plan.session.nbytes(), "the propagated masks and memory")
            # The store keeps a snapshot: the propagation goes on changing its own, and what is stored stays what
            # was saved, also when a later save fails.
            saved = self.store.save(plan.video_id, plan.session.copy(), None, plan.stored)
            plan.session.track.saved = dict(saved.state.track.saved)
        return masks, saved

    # ------------------------------------------------------------------ internals
    def _locked(self, video_id: str, job_of: Callable[[FileSession], Callable]):
        """Lease, load, a copy of the session with its frames, ``job_of(copy)`` (checks; its device job), the job
        on the device worker, the copy saved. Returns (the session saved, the job's result)."""
        with self.store.lease(video_id):
            stored = self._load(video_id)
            session = stored.state.copy()
            self.tracker.open(self._frames(video_id, self._decoded(video_id, session)), session.track)
            job = job_of(session)
            try:
                result, _ = anyio.from_thread.run(self.runtime.worker.submit, job)
            except InvalidInputError as e:
                raise InvalidFieldError(e.argument, e.detail) from e
            self._check_cap(session.nbytes(), "this change")
            self.store.save(video_id, session, None, stored)
        return session, result

    def _load(self, video_id: str) -> StoredSession:
        stored = self.store.load(video_id)
        if stored is None:
            raise UnknownIdError("video_id", f"video {video_id} does not exist (deleted or expired)")
        return stored

    def _decoded(self, video_id: str, session: FileSession) -> DecodedVideo:
        """This process's decoded frames of the session's file (decoded again from the stored file if need be)."""
        quality = self.settings.video_file_jpeg_quality
        return self.decoded.get_or_decode(video_id, lambda: decode_video(session.source, self.limits, quality))

    def _frames(self, video_id: str, decoded: DecodedVideo) -> FileFrames:
        info = decoded.info
        return FileFrames(video_id, decoded.jpegs, self.tracker.image_size, info.height, info.width)

    def _check_cap(self, nbytes: int, what: str) -> None:
        cap = self.settings.video_file_session_bytes
        if nbytes > cap:
            raise SessionFullError(
                "video",
                f"{what} would make the session store {nbytes} bytes, over its cap of {cap} "
                "(SAM2REFINER_VIDEO_FILE_SESSION_BYTES): nothing was saved; remove objects or reset, or track "
                "fewer frames",
            )

    def _store_call(self, fn, *args):
        try:
            return fn(*args)
        except StateStoreError as e:
            metrics.VIDEO_STORE_ERRORS.labels(e.kind).inc()
            raise


__all__ = ["FileSessions", "Propagation"]
