"""Test media made here: a short H.264 clip (PyAV) of a disc moving over noise, and reading it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FRAMES, WIDTH, HEIGHT, FPS = 8, 128, 96, 8


def frame_pixels(i: int) -> np.ndarray:
    rng = np.random.default_rng(100 + i)
    img = rng.integers(0, 50, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    cx, cy = 36 + 6 * i, 48
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < 18**2] = (220, 50, 40)
    return img


def write_video(path: Path) -> None:
    import av  # imported here: collecting the tests needs no PyAV

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(FRAMES):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_pixels(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame as RGB [H, W, 3], decoded as the service decodes it."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
