"""Exports of a file session at the source's frame numbers, timestamps and resolution, written as frames arrive
(``add`` per chunk of frames, ``finish`` for the bytes), so a long video is never held as masks in memory.

coco     COCO JSON with the video extension's fields (``videos``; per image ``video_id``, ``frame_id``, ``timestamp``):
         one annotation per object and frame with a mask, its segmentation as COCO RLE (pycocotools), ``track_id``
         the object id
png-zip  a zip: ``{object_id}/{frame:06d}.png`` (0/255, one per object and frame with a mask) + ``frames.json``
mp4      the video with every object's mask drawn over it (H.264 through PyAV), each frame at its own timestamp
"""

from __future__ import annotations

import io
import json
import zipfile
from fractions import Fraction

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from sam2refiner.model.video.offline import FrameMasks

from ..core.masks import encode_rle
from .decode import VideoInfo

FORMATS = {"coco": "application/json", "png-zip": "application/zip", "mp4": "video/mp4"}
SUFFIX = {"coco": "json", "png-zip": "zip", "mp4": "mp4"}
# Distinct colours (RGB) for the objects, by their order in the session.
PALETTE = np.array(
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240]],
    dtype=np.float32,
)


class CocoExport:
    def __init__(self, info: VideoInfo, name: str):
        self.info = info
        self.images = [
            {
                "id": k + 1,
                "video_id": 1,
                "frame_id": k,
                "file_name": f"{k:06d}.jpg",
                "width": info.width,
                "height": info.height,
                "timestamp": t,
            }
            for k, t in enumerate(info.timestamps)
        ]
        self.video = {"id": 1, "name": name, "width": info.width, "height": info.height, "length": info.frames}
        self.video["fps"] = info.fps
        self.annotations: list[dict] = []

    def add(self, masks: FrameMasks, frame_jpeg: bytes | None = None) -> None:
        for o in masks.objects:
            if not o.mask.any():
                continue
            rle = encode_rle(o.mask)
            coco_rle = {"size": rle["size"], "counts": rle["counts"].encode()}
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "image_id": masks.frame + 1,
                    "video_id": 1,
                    "frame_id": masks.frame,
                    "category_id": 1,
                    "track_id": o.obj_id,
                    "segmentation": rle,
                    "area": float(mask_utils.area(coco_rle)),
                    "bbox": [float(v) for v in mask_utils.toBbox(coco_rle)],
                    "iscrowd": 0,
                    "score": o.score,
                }
            )

    def finish(self) -> bytes:
        body = {
            "info": {"description": "SAM2Refiner video file session (source frame numbers and resolution)"},
            "videos": [self.video],
            "images": self.images,
            "annotations": self.annotations,
            "categories": [{"id": 1, "name": "object"}],
        }
        return json.dumps(body).encode()


class PngZipExport:
    def __init__(self, info: VideoInfo, name: str):
        self.info = info
        self.buffer = io.BytesIO()
        self.zip = zipfile.ZipFile(self.buffer, "w", zipfile.ZIP_STORED)  # PNGs are compressed already
        self.written: dict[int, list[int]] = {}

    def add(self, masks: FrameMasks, frame_jpeg: bytes | None = None) -> None:
        for o in masks.objects:
            if not o.mask.any():
                continue
            ok, png = cv2.imencode(".png", o.mask.astype(np.uint8) * 255)
            self.zip.writestr(f"{o.obj_id}/{masks.frame:06d}.png", png.tobytes())
            self.written.setdefault(o.obj_id, []).append(masks.frame)

    def finish(self) -> bytes:
        index = {
            "width": self.info.width,
            "height": self.info.height,
            "timestamps": self.info.timestamps,
            "objects": {str(k): v for k, v in self.written.items()},
        }
        self.zip.writestr("frames.json", json.dumps(index))
        self.zip.close()
        return self.buffer.getvalue()


class Mp4Export:
    """H.264 needs even sizes: an odd width or height gets one edge row or column repeated."""

    def __init__(self, info: VideoInfo, name: str, obj_ids: list[int]):
        import av

        self.info = info
        self.colors = {obj: PALETTE[i % len(PALETTE)] for i, obj in enumerate(obj_ids)}
        self.buffer = io.BytesIO()
        self.container = av.open(self.buffer, "w", format="mp4")
        self.stream = self.container.add_stream("libx264", rate=max(1, round(info.fps or 25)))
        self.stream.width, self.stream.height = info.width + info.width % 2, info.height + info.height % 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, 1000)
        self._av = av

    def add(self, masks: FrameMasks, frame_jpeg: bytes | None = None) -> None:
        pixels = np.asarray(Image.open(io.BytesIO(frame_jpeg)).convert("RGB"), dtype=np.float32)
        for o in masks.objects:
            if o.mask.any():
                pixels[o.mask] = 0.5 * pixels[o.mask] + 0.5 * self.colors[o.obj_id]
        out = np.pad(pixels.astype(np.uint8), ((0, self.info.height % 2), (0, self.info.width % 2), (0, 0)), "edge")
        frame = self._av.VideoFrame.from_ndarray(out, format="rgb24")
        frame.pts, frame.time_base = round(self.info.timestamps[masks.frame] * 1000), Fraction(1, 1000)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def finish(self) -> bytes:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        return self.buffer.getvalue()


def exporter(fmt: str, info: VideoInfo, name: str, obj_ids: list[int]):
    if fmt == "coco":
        return CocoExport(info, name)
    if fmt == "png-zip":
        return PngZipExport(info, name)
    return Mp4Export(info, name, obj_ids)
