"""Label Studio's brush RLE, written and read by label-studio-sdk's own converter (``converter.brush``).

The SDK is installed without its dependencies (``pip install --no-deps label-studio-sdk``): its requirements pin
OpenCV below this project's and pull in pandas, nltk and more for converters the service never runs; the brush
module needs numpy alone. Importing it imports the converter package, which tries its full converter first and
prints the module it misses; that line is swallowed here.
"""

from __future__ import annotations

import contextlib
import functools
import io

import numpy as np

from ...core.errors import NotReadyError

INSTALL_HINT = "pip install --no-deps 'label-studio-sdk==2.1.2'"


@functools.cache
def _brush():
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from label_studio_sdk.converter import brush
    except ImportError as e:
        raise NotReadyError(
            None, f"the Label Studio backend needs label-studio-sdk's brush converter ({INSTALL_HINT}): {e}"
        ) from e
    return brush


def mask_to_rle(mask: np.ndarray) -> list[int]:
    """A bool mask [H, W] as Label Studio's brush RLE (RGBA bytes, 255 where the mask is)."""
    return _brush().mask2rle(mask.astype(np.uint8) * 255)


def rle_to_mask(rle: list[int], height: int, width: int) -> np.ndarray:
    """Label Studio's brush RLE back to a bool mask [H, W] (its alpha channel)."""
    rgba = np.asarray(_brush().decode_rle(rle)).reshape(height, width, 4)
    return rgba[:, :, 3] > 127
