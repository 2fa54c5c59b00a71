"""The uploaded file, decoded with PyAV: every frame of its first video stream, in presentation order, with its
timestamp (variable frame rates kept as they are), each kept as a JPEG.

JPEG is how sam2's own pipeline reads videos (a folder of JPEG frames, made with ffmpeg): the model sees each
frame as ``init_state`` would from that folder, and ``GET /videos/{id}/frames/{k}`` serves the same bytes. Limits
(frames, duration, resolution) are checked while decoding, so an over-long file stops early.

Each process decodes a session's file once and keeps the frames in a cache bounded in bytes (``DecodeCache``);
another process decodes the stored file again when a request of that session reaches it.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from ..core.errors import UnreadableVideoError, VideoLimitError


@dataclass(frozen=True)
class VideoLimits:
    max_frames: int
    max_duration_s: float
    max_side: int


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    width: int
    height: int
    fps: float  # average over the file
    duration_s: float
    timestamps: list[float] = field(hash=False)  # seconds from the first frame, per source frame


@dataclass
class DecodedVideo:
    info: VideoInfo
    jpegs: list[bytes]

    @property
    def nbytes(self) -> int:
        return sum(len(j) for j in self.jpegs)


def decode_video(data: bytes, limits: VideoLimits, quality: int = 95) -> DecodedVideo:
    """Every frame of the file's first video stream as JPEG; ``UnreadableVideoError`` / ``VideoLimitError``."""
    import av  # the service's one video decoder (FFmpeg)

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise UnreadableVideoError("file", f"not a video FFmpeg can read: {e}") from None
    with container:
        if not container.streams.video:
            raise UnreadableVideoError("file", "the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        jpegs, times, size = [], [], None
        try:
            for frame in container.decode(stream):
                size = _check_frame(frame, size, len(jpegs), limits)
                t = frame.time if frame.time is not None else (times[-1] + 1 / 25 if times else 0.0)
                if times and t - times[0] > limits.max_duration_s:
                    raise VideoLimitError("file", f"the video is longer than the limit of {limits.max_duration_s:g} s")
                buf = io.BytesIO()
                frame.to_image().save(buf, format="JPEG", quality=quality)
                jpegs.append(buf.getvalue())
                times.append(float(t))
        except av.error.FFmpegError as e:
            raise UnreadableVideoError("file", f"the video stream does not decode: {e}") from None
        rate = stream.average_rate
    if not jpegs:
        raise UnreadableVideoError("file", "no frame could be decoded from the file")
    stamps = [round(t - times[0], 6) for t in times]
    span = times[-1] - times[0]
    # The mean frame interval of the timestamps (variable rates included); the stream's declared rate when they
    # agree within 1% (a constant rate whose timestamps a container rounded, as WebM's milliseconds).
    fps = (len(stamps) - 1) / span if span > 0 else float(rate or 0)
    if rate and abs(fps - float(rate)) < 0.01 * float(rate):
        fps = float(rate)
    duration = span + (1 / fps if fps > 0 else 0.0)
    info = VideoInfo(len(jpegs), size[0], size[1], round(fps, 6), round(duration, 6), stamps)
    return DecodedVideo(info, jpegs)


def _check_frame(frame, size, index: int, limits: VideoLimits) -> tuple[int, int]:
    if index >= limits.max_frames:
        raise VideoLimitError("file", f"the video has more than the limit of {limits.max_frames} frames")
    hw = (frame.width, frame.height)
    if max(hw) > limits.max_side:
        raise VideoLimitError(
            "file", f"frames are {hw[0]}x{hw[1]}; the limit is {limits.max_side} pixels on the longer side"
        )
    if size is not None and hw != size:
        raise UnreadableVideoError("file", f"the frame size changes mid-stream ({size} then {hw}); not supported")
    return hw


class DecodeCache:
    """Decoded videos by key (a session's id and epoch), least recently used out first, bounded in bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._videos: OrderedDict[str, DecodedVideo] = OrderedDict()
        self._decoding: dict[str, threading.Lock] = {}  # one decode per video at a time

    def get_or_decode(self, key: str, decode) -> DecodedVideo:
        """The cached video, or ``decode()``'s, run once however many requests ask at the same time (the page
        asks for many frames of a video this process has not decoded yet)."""
        video = self.get(key)
        if video is not None:
            return video
        with self._lock:
            lock = self._decoding.setdefault(key, threading.Lock())
        with lock:
            video = self.get(key)
            if video is None:
                video = decode()
                self.put(key, video)
        with self._lock:
            self._decoding.pop(key, None)
        return video

    def get(self, key: str) -> DecodedVideo | None:
        with self._lock:
            video = self._videos.get(key)
            if video is not None:
                self._videos.move_to_end(key)
            return video

    def put(self, key: str, video: DecodedVideo) -> None:
        with self._lock:
            self._videos[key] = video
            self._videos.move_to_end(key)
            while len(self._videos) > 1 and sum(v.nbytes for v in self._videos.values()) > self.max_bytes:
                self._videos.popitem(last=False)

    def drop(self, key_prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._videos if k.startswith(key_prefix)]:
                del self._videos[key]
