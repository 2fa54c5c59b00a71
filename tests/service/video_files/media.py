"""Video files made for the tests with PyAV (FFmpeg's encoders): H.264 in MP4, VP9 in WebM, a variable frame rate,
a portrait clip, and a corrupt file."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np


def encode(
    frames: np.ndarray, fmt: str = "mp4", codec: str = "libx264", fps: int = 24, times: list[float] | None = None
) -> bytes:
    """``frames`` uint8 [T, H, W, 3] as a file; ``times`` (seconds) gives each frame its own timestamp (VFR)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def corrupt(data: bytes) -> bytes:
    """The file's header kept, its body overwritten with noise."""
    rng = np.random.default_rng(0)
    return data[:64] + rng.integers(0, 256, len(data) - 64, dtype=np.uint8).tobytes()
