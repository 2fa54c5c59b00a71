"""Decoding client images safely: base64 -> PNG/JPEG/WebP -> RGB uint8 [H, W, 3], with a pixel limit.

The pixel count is checked from the header, before any pixel is decoded, so a decompression bomb costs
nothing. EXIF orientation is applied, so coordinates refer to the image as viewers show it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import secrets
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidFieldError, PayloadTooLargeError

ALLOWED_FORMATS = {"PNG", "JPEG", "WEBP"}
# Pillow opens 16-bit grayscale PNGs in these modes; its convert("RGB") clips them (everything over 255 is white).
SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}

# Image ids are keyed hashes of the pixels: the same image maps to the same id within a process, but no client
# can compute (or probe for) an id the server did not hand out.
_ID_KEY = secrets.token_bytes(32)


def image_id_for(pixels: np.ndarray) -> str:
    h = hashlib.blake2b(key=_ID_KEY, digest_size=16)
    h.update(np.asarray(pixels.shape, np.int64).tobytes())
    h.update(np.ascontiguousarray(pixels).data)
    return "img_" + h.hexdigest()


def decode_base64_image(data: str, max_pixels: int, field: str = "image") -> np.ndarray:
    if data.startswith("data:"):  # a data URL as browsers make them: data:image/png;base64,....
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidFieldError(field, f"not valid base64: {e}") from e
    if not raw:
        raise InvalidFieldError(field, "is empty")
    return decode_image_bytes(raw, max_pixels, field)


def decode_image_bytes(raw: bytes, max_pixels: int, field: str = "image") -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            if img.format not in ALLOWED_FORMATS:
                raise InvalidFieldError(field, f"format {img.format} is not accepted; send PNG, JPEG or WebP")
            w, h = img.size
            if w * h > max_pixels:
                raise PayloadTooLargeError(field, f"{w}x{h} = {w * h} pixels is over the limit of {max_pixels}")
            img.load()
            img = ImageOps.exif_transpose(img)
            pixels = _to_rgb8(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PayloadTooLargeError(field, f"image is too large to decode: {e}") from e
    except UnidentifiedImageError as e:
        raise InvalidFieldError(field, "not a decodable PNG, JPEG or WebP image") from e
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise InvalidFieldError(field, f"image data is corrupt or truncated: {e}") from e
    if pixels.shape[0] < 2 or pixels.shape[1] < 2:
        raise InvalidFieldError(field, f"image is too small: {pixels.shape[1]}x{pixels.shape[0]} pixels")
    return pixels


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """RGB uint8 [H, W, 3], writable (torch refuses read-only buffers). 16-bit grayscale is scaled to 8 bits
    (65535 -> 255); Pillow itself already reads 16-bit RGB(A) PNGs as 8 bits per channel."""
    if img.mode in SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(img, np.int64), 0, 65535)
        gray = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.array(img.convert("RGB"))
