"""Test media made on the spot: an image, a VP8 WebM file and a Y4M clip for Chromium's fake camera."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def scene(i: int, width: int = 160, height: int = 120) -> np.ndarray:
    """RGB frame i: a bright square moving right on a dark noisy background, a bar that stays put."""
    rng = np.random.default_rng(i)
    frame = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    x = 20 + 4 * i
    frame[40:80, x : x + 40] = (230, 200, 40)
    frame[95:105, 20:140] = (40, 160, 230)
    return frame


def write_webm(path: Path, frames: int, fps: int = 5, width: int = 160, height: int = 120) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write VP8 here"
    for i in range(frames):
        writer.write(cv2.cvtColor(scene(i, width, height), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_y4m(path: Path, frames: int, fps: int = 10) -> Path:
    """YUV4MPEG2 4:2:0, the format Chromium's --use-file-for-fake-video-capture reads."""
    h, w = scene(0).shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            yuv = cv2.cvtColor(cv2.cvtColor(scene(i), cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2YUV_I420)
            f.write(b"FRAME\n" + yuv.tobytes())
    return path
