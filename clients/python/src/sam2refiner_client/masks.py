"""The service's mask formats back to numpy bool arrays [H, W] (and a mask to RLE, for mask prompts).

- ``rle``: COCO RLE ``{"size": [H, W], "counts": str}`` as pycocotools writes it (uncompressed ``counts`` lists
  are read too);
- ``png``: a base64 single-channel PNG, 0 or 255;
- ``polygons``: COCO polygons ``[[x0, y0, x1, y1, ...], ...]``: the outer contours of the mask through pixel
  centres, filled here with their edges (holes are not in the format).
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as coco_mask

FORMATS = ("rle", "png", "polygons")


def encode_rle(mask: np.ndarray) -> dict:
    """A bool [H, W] mask as compressed COCO RLE, the form the service takes mask prompts in."""
    rle = coco_mask.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        if sum(counts) != h * w:  # pycocotools would leave the rest of the mask uninitialised
            raise ValueError(f"RLE run lengths sum to {sum(counts)}, not {h}*{w}")
        coded = coco_mask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        coded = {"size": [h, w], "counts": counts.encode("ascii")}
    return coco_mask.decode(coded).astype(bool)


def decode_png(data: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as image:
        return np.asarray(image.convert("L")) > 127


def decode_polygons(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Fills each polygon and draws its edges, so that 1-pixel-wide parts (which a contour traces there and back)
    are kept; the vertices are pixel centres, as the service's contours give them."""
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        vertices = [(int(x), int(y)) for x, y in np.asarray(polygon, np.float64).reshape(-1, 2).round()]
        if len(vertices) == 1:
            draw.point(vertices, fill=1)
        elif vertices:
            draw.polygon(vertices, fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def decode_mask(payload, fmt: str, height: int | None = None, width: int | None = None) -> np.ndarray:
    """One mask in ``fmt`` as bool [H, W]. Polygons need the size; RLE and PNG carry theirs, checked against
    ``height`` and ``width`` when given."""
    if fmt == "rle":
        mask = decode_rle(payload)
    elif fmt == "png":
        mask = decode_png(payload)
    elif fmt == "polygons":
        if height is None or width is None:
            raise ValueError("polygons do not say the mask's size: give height and width")
        mask = decode_polygons(payload, height, width)
    else:
        raise ValueError(f"unknown mask format {fmt!r}; the service answers in one of {FORMATS}")
    if height is not None and width is not None and mask.shape != (height, width):
        raise ValueError(f"a {fmt} mask of {mask.shape[0]}x{mask.shape[1]} where {height}x{width} was expected")
    return mask
