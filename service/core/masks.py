"""Mask encodings of the API: COCO RLE (as pycocotools writes it), PNG in base64, polygons (via OpenCV).

Masks are boolean numpy arrays [H, W] at the original image size.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Literal, get_args

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .errors import InvalidFieldError

MaskFormat = Literal["rle", "png", "polygons"]
FORMATS: tuple[str, ...] = get_args(MaskFormat)


def encode_rle(mask: np.ndarray) -> dict:
    """{"size": [H, W], "counts": "<compressed string>"} exactly as ``pycocotools.mask.encode`` makes it."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def compressed_counts(counts: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (the LEB128-like code of the COCO API's ``rleFrString``:
    5 bits per character offset by 48, bit 0x20 = more follows, bit 0x10 of the last = negative, and from the
    third run on each value is a difference to the run two before)."""
    runs: list[int] = []
    value = shift = 0
    for ch in counts:
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise ValueError(f"character {ch!r} is not in the RLE alphabet")
        value |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
        value = shift = 0
    if shift:
        raise ValueError("counts end in the middle of a run")
    return runs


def decode_rle(rle: dict, field: str = "rle") -> np.ndarray:
    """Compressed ({"counts": str}) or uncompressed ({"counts": [int, ...]}) COCO RLE -> bool [H, W].

    The runs are checked (non-negative, covering h*w: pycocotools would leave the rest of the mask uninitialised)
    and laid out here: pycocotools' ``decode`` warns under numpy 2 (its ``Masks.__array__`` takes no ``copy``
    keyword), a deprecation numpy will turn into an error."""
    try:
        h, w = (int(v) for v in rle["size"])
        if h < 0 or w < 0:
            raise InvalidFieldError(f"{field}.size", f"size [{h}, {w}]: height and width are at least 0")
        counts = rle["counts"]
        if isinstance(counts, list):
            if any((not isinstance(c, int)) or c < 0 for c in counts) or sum(counts) != h * w:
                raise InvalidFieldError(
                    f"{field}.counts", f"uncompressed counts must be non-negative and sum to {h}*{w}"
                )
            runs = counts
        else:
            try:
                runs = compressed_counts(counts)
            except ValueError as e:
                raise InvalidFieldError(f"{field}.counts", f"not compressed COCO RLE counts: {e}") from None
            if any(r < 0 for r in runs) or sum(runs) != h * w:
                raise InvalidFieldError(
                    f"{field}.counts",
                    f"run lengths must be non-negative and sum to {h}*{w} = {h * w}; these sum to {sum(runs)}",
                )
    except InvalidFieldError:
        raise
    except (KeyError, TypeError, ValueError, UnicodeError) as e:
        raise InvalidFieldError(field, f"not a COCO RLE ({{'size': [h, w], 'counts': ...}}): {e}") from e
    # Runs alternate background, foreground, ... from a background run, down the columns (column-major).
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(w, h).T


def encode_png(mask: np.ndarray) -> str:
    """A single-channel 8-bit PNG (0 / 255), base64."""
    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:  # pragma: no cover - cv2 only fails on empty arrays
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def decode_png(data: str) -> np.ndarray:
    buf = _png_bytes(data)
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("not a PNG image")
    return img > 127


def _png_bytes(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, TypeError, ValueError) as e:
        raise ValueError(f"not base64: {e}") from e


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: str) -> tuple[int, int]:
    """(height, width) that a base64 PNG declares, read from its header (the PNG spec puts the IHDR chunk first:
    length 13, width and height as 4-byte big-endian integers) without decoding a pixel. Image libraries refuse
    to even open a header this large (PIL's decompression-bomb check), so it is read here."""
    head = _png_bytes(data[:64])  # 48 bytes of PNG, more than the signature and IHDR need
    if head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR" or len(head) < 24:
        raise ValueError("not a PNG image (no PNG signature and IHDR header)")
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def declared_size(payload, fmt: str) -> tuple[int, int] | None:
    """(height, width) that a mask says it has, read before any decoding (None: polygons, drawn at the image's
    size). Raises ``ValueError`` for a payload that does not say."""
    if fmt == "rle":
        if not isinstance(payload, dict) or "size" not in payload:
            raise ValueError("not a COCO RLE ({'size': [h, w], 'counts': ...})")
        size = payload["size"]
        if not isinstance(size, list | tuple) or len(size) != 2 or not all(type(v) is int for v in size):
            raise ValueError("size must be [height, width] as two integers")
        return size[0], size[1]
    if fmt == "png":
        if not isinstance(payload, str):
            raise ValueError("a PNG mask is a base64 string")
        return png_size(payload)
    return None


def encode_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours as COCO polygons [x0, y0, x1, y1, ...] in pixel coordinates (holes are not kept)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 1]


def decode_polygons(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Fills the polygons; the inverse of ``encode_polygons`` up to what contours can express."""
    out = np.zeros((height, width), np.uint8)
    pts = [np.asarray(p, np.float64).reshape(-1, 2).round().astype(np.int32) for p in polygons if len(p) >= 2]
    if pts:
        cv2.fillPoly(out, pts, 1)
        cv2.polylines(out, pts, True, 1)  # fillPoly leaves out 1-pixel-wide parts that contours trace
    return out.astype(bool)


def encode_mask(mask: np.ndarray, fmt: str):
    if fmt == "rle":
        return encode_rle(mask)
    if fmt == "png":
        return encode_png(mask)
    if fmt == "polygons":
        return encode_polygons(mask)
    raise InvalidFieldError("format", f"unknown format {fmt!r}; use one of {FORMATS}")


def decode_mask(payload, fmt: str, height: int, width: int) -> np.ndarray:
    """The client's side: any API mask encoding back to bool [H, W]."""
    if fmt == "rle":
        return decode_rle(payload)
    if fmt == "png":
        return decode_png(payload)
    if fmt == "polygons":
        return decode_polygons(payload, height, width)
    raise ValueError(f"unknown format {fmt!r}")
