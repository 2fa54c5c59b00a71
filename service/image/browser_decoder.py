"""What the page needs to decode clicks itself: SAM 2's decoder as ONNX, and an image's features in float16.

    decoder = BrowserDecoder(runtime, settings)      # in the lifespan; nothing is exported yet
    path = await decoder.model_path()                # exported on the first request, cached by the weights' hash
    body = await features_body(engine, image_id)     # float16 features, gzip-compressed, for GET /segment/features

Refine-off path only: the refiner runs on the server (the page swaps in its refined mask when it arrives). The
export runs once per process in a thread (seconds on a CPU), not on the device worker: it works on a CPU copy of
the decoder. A failed export is remembered and answered ``decoder_unavailable`` (the page then decodes on the
server and says so); so is a service started with ``SAM2REFINER_BROWSER_DECODER=false``.

The features body: a little-endian uint32 N, a JSON header of N bytes (padded with spaces so the tensors start at
a multiple of 8), then each tensor the header lists, C-ordered little-endian float16, in order::

    {"image_id": ..., "width": W, "height": H, "image_size": S, "dtype": "float16",
     "tensors": [{"name": "image_embed", "shape": [1, 256, 64, 64]}, {"name": "high_res_0", ...}, ...]}
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import struct
from pathlib import Path

import numpy as np
from starlette.concurrency import run_in_threadpool

from sam2refiner.model import cached_decoder_onnx

from ..core.errors import DecoderUnavailableError
from ..core.runtime import Runtime
from ..core.settings import Settings
from .engine import ImageEngine

log = logging.getLogger(__name__)

FLOAT16_MAX = float(np.finfo(np.float16).max)
GZIP_LEVEL = 1  # features are near-random floats: a higher level costs time and saves little


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sam2refiner" / "onnx"


class BrowserDecoder:
    """SAM 2's exported decoder for the page: exported at most once per process, on the first request."""

    def __init__(self, runtime: Runtime, settings: Settings):
        self.runtime = runtime
        self.enabled = settings.browser_decoder
        self.cache_dir = settings.decoder_cache_dir or default_cache_dir()
        self._export: asyncio.Task | None = None

    async def model_path(self) -> Path:
        """The ONNX file (its name holds the weights' hash); 503 decoder_unavailable when it cannot be had."""
        if not self.enabled:
            raise DecoderUnavailableError(None, "in-browser decoding is off on this service: decode on the server")
        if self._export is None:
            self._export = asyncio.ensure_future(
                run_in_threadpool(cached_decoder_onnx, self.runtime.model.sam2, self.cache_dir)
            )
        try:
            return await asyncio.shield(self._export)
        except Exception as e:  # noqa: BLE001  (any export failure is this answer, and is logged once)
            if not getattr(self._export, "logged", False):
                log.exception("exporting SAM 2's decoder to ONNX failed: the page decodes on the server")
                self._export.logged = True
            raise DecoderUnavailableError(
                None,
                f"SAM 2's decoder could not be exported for the browser ({type(e).__name__}): decode on the server",
            ) from e


def pack_features(image_id: str, orig_hw: tuple[int, int], image_size: int, tensors: dict[str, np.ndarray]) -> bytes:
    """The features body (module docstring), gzip-compressed. Values beyond float16's range are clipped to it."""
    arrays = {name: np.clip(a, -FLOAT16_MAX, FLOAT16_MAX).astype("<f2") for name, a in tensors.items()}
    header = {
        "image_id": image_id,
        "height": orig_hw[0],
        "width": orig_hw[1],
        "image_size": image_size,
        "dtype": "float16",
        "tensors": [{"name": name, "shape": list(a.shape)} for name, a in arrays.items()],
    }
    text = json.dumps(header).encode()
    text += b" " * (-(len(text) + 4) % 8)
    raw = b"".join([struct.pack("<I", len(text)), text, *(np.ascontiguousarray(a).tobytes() for a in arrays.values())])
    return gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)


async def features_body(engine: ImageEngine, image_id: str) -> bytes:
    """The decoder's image inputs of a cached (or being encoded) image: SAM 2's embedding and its two high-res
    levels, as ``pack_features`` writes them; 404 unknown_id for an image the server does not have."""
    source = engine.feature_source(image_id)
    features, _, _ = await asyncio.shield(source.sam2)

    def to_numpy():  # a device-to-host copy: a device worker job
        return {
            "image_embed": features.image_embed[:1].float().cpu().numpy(),
            "high_res_0": features.high_res[0][:1].float().cpu().numpy(),
            "high_res_1": features.high_res[1][:1].float().cpu().numpy(),
        }

    tensors, _ = await engine.runtime.worker.submit(to_numpy)
    size = engine.runtime.model.image_size
    return await run_in_threadpool(pack_features, image_id, tuple(features.orig_hw[0]), size, tensors)


__all__ = ["BrowserDecoder", "features_body", "pack_features"]
