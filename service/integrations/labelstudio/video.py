"""Videos: keyframed rectangles tracked through the video, read server-side with PyAV.

    boxes = await track_keyframes(runtime, frames, prompts_at, refine)    # the one function the tracking is behind

``track_keyframes`` runs the same tracker as the video WebSocket (``model/video/tracker.py``, on the runtime's
device worker, one job per frame), the way a WebSocket client drives it: each frame tracks every object into it
(``step``), then the keyframes on that frame prompt their objects (``prompt``, a box each). The state stays in
this request: nothing is stored, and the answer is every object's box on every frame read. (File-based sessions,
issue 19, may take this function's place.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from starlette.concurrency import run_in_threadpool

from sam2refiner.model.video import StreamingTracker, TrackPrompt

from ...core.errors import InvalidFieldError, NotReadyError, PayloadTooLargeError
from ...core.runtime import Runtime
from ...core.worker import STREAM
from .protocol import mask_box

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


@dataclass
class VideoFrames:
    """Decoded RGB frames [H, W, 3] from ``start`` (0-based) on, at most ``limit``, read on a thread of the pool."""

    path: str
    start: int
    limit: int
    max_pixels: int
    field: str
    fps: float = 24.0
    frames_count: int = 0
    hw: tuple[int, int] | None = None
    _container: object = None
    _frames: Iterator | None = None

    async def open(self) -> None:
        await run_in_threadpool(self._open)

    def _open(self) -> None:
        av = _pyav()
        try:
            self._container = av.open(self.path)
            stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError) as e:
            raise InvalidFieldError(self.field, f"not a video PyAV can read: {e}") from None
        rate = stream.average_rate or stream.guessed_rate or Fraction(24)
        self.fps = float(rate)
        if stream.frames:
            self.frames_count = int(stream.frames)
        elif stream.duration is not None and stream.time_base is not None:
            self.frames_count = int(round(float(stream.duration * stream.time_base) * self.fps))
        self._frames = self._container.decode(stream)

    async def __aiter__(self) -> AsyncIterator[tuple[int, np.ndarray]]:
        index = 0
        try:
            while index < self.start + self.limit:
                frame = await run_in_threadpool(self._next)
                if frame is None:
                    break
                if index >= self.start:
                    pixels = await run_in_threadpool(self._pixels, frame)
                    yield index, pixels
                index += 1
        finally:
            await run_in_threadpool(self.close)
        self.frames_count = max(self.frames_count, index)

    def _next(self):
        try:
            return next(self._frames, None)
        except _pyav().error.FFmpegError as e:
            raise InvalidFieldError(self.field, f"the video could not be decoded: {e}") from None

    def _pixels(self, frame) -> np.ndarray:
        h, w = frame.height, frame.width
        if h * w > self.max_pixels:
            raise PayloadTooLargeError(self.field, f"frames of {w}x{h} pixels are over the limit of {self.max_pixels}")
        self.hw = (h, w)
        return frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def _pyav():
    """PyAV, imported when a video is read (a declared dependency; an environment made before it was added still
    serves everything else)."""
    try:
        import av
    except ImportError as e:
        raise NotReadyError(None, f"videos need PyAV (pip install av): {e}") from e
    return av


@dataclass
class TrackedBoxes:
    """Each object's box on each frame read (None where the object is not seen)."""

    boxes: dict[int, dict[int, Box | None]] = field(default_factory=dict)  # obj_id -> frame -> box


async def track_keyframes(
    runtime: Runtime,
    frames: AsyncIterator[tuple[int, np.ndarray]],
    prompts_at: Callable[[int, tuple[int, int]], list[TrackPrompt]],
    refine: bool,
    max_cond_frames: int,
) -> TrackedBoxes:
    """Tracks objects through ``frames`` ((index, RGB pixels), in order); ``prompts_at(index, (h, w))`` gives the
    keyframe prompts on a frame. Returns every object's box on every frame from its first keyframe on."""
    tracker = StreamingTracker(runtime.model, max_cond_frames)
    state = tracker.new_state(refine=refine)
    out = TrackedBoxes()
    async for index, pixels in frames:
        prompts = prompts_at(index, tuple(pixels.shape[:2]))

        def job(state=state, pixels=pixels, prompts=prompts):
            feats = tracker.encode_frame(pixels, state.switches)
            state, result = tracker.step(state, feats)
            masks = {o.obj_id: o.logits > 0 for o in result.objects}
            if prompts:
                state, prompted = tracker.prompt(state, feats, prompts)
                masks.update({o.obj_id: o.logits > 0 for o in prompted.objects})
            return state, {obj_id: mask_box(m.cpu().numpy()) for obj_id, m in masks.items()}

        runtime.check_ready()
        # the stream lane, as the WebSocket's frames: a video frame never holds up the clicks' thread
        (state, boxes), _ = await runtime.worker.submit(job, lane=STREAM)
        for obj_id, box in boxes.items():
            out.boxes.setdefault(obj_id, {})[index] = box
    return out
