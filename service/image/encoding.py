"""An image's encoder features for the requests on it: from the feature cache, from an encoding already in flight,
or from a new encoding cut into device jobs of one encoder pass each.

    source = encoder.source(image_id, pixels)     # the image's FeatureSource (never waits)
    features, encode_s, queue_wait = await source.sam2    # after SAM 2's global pass
    features, encode_s, queue_wait = await source.full    # after LA's quadrants too (what refining needs)

SAM 2's masks are ready after the first job, and other images' clicks slip in between the quadrant jobs. The
complete features enter the cache when the last job is done.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from sam2refiner.model import SAM2RefinerImagePredictor
from sam2refiner.model.features import ImageFeatures
from sam2refiner.model.runtime import synchronize

from ..core.errors import UnknownIdError
from ..core.runtime import Runtime
from .cache import ByteLRU


class FeatureSource:
    """An image's features for the requests on it: ``sam2`` resolves to (features for SAM 2's path, encoder
    seconds, queue wait) and ``full`` to (complete features, ...). Both are resolved at once for a cached image;
    for a new one ``sam2`` after the global encoder pass and ``full`` after the quadrants."""

    def __init__(self, cache_hit: bool, orig_hw: tuple[int, int]):
        loop = asyncio.get_running_loop()
        self.cache_hit, self.orig_hw = cache_hit, orig_hw
        self.sam2, self.full = loop.create_future(), loop.create_future()
        for future in (self.sam2, self.full):  # failures reach whoever awaits; nobody may await one of them
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.task: asyncio.Task | None = None
        self.refusal_counted = False

    @classmethod
    def ready(cls, features: ImageFeatures) -> FeatureSource:
        source = cls(True, tuple(features.orig_hw[0]))
        source.sam2.set_result((features, 0.0, 0.0))
        source.full.set_result((features, 0.0, 0.0))
        return source


class FeatureEncoder:
    def __init__(self, runtime: Runtime, predictor: SAM2RefinerImagePredictor, cache_bytes: int):
        self.runtime, self.predictor = runtime, predictor
        self.cache: ByteLRU[ImageFeatures] = ByteLRU("features", cache_bytes, lambda f: f.nbytes())
        self._in_flight: dict[str, FeatureSource] = {}  # image_id -> its staged encoding

    @property
    def in_flight(self) -> int:
        """Images being encoded now."""
        return len(self._in_flight)

    def source(self, image_id: str, pixels: np.ndarray | None = None, field_name: str = "image_id") -> FeatureSource:
        """``image_id``'s features: cached, already being encoded, or (with ``pixels``) a new staged encoding.
        Without pixels an id neither cached nor in flight is unknown (404). Holding the source keeps cached
        features alive even if the cache evicts them meanwhile."""
        if pixels is not None:
            cached = self.cache.get(image_id)
            if cached is not None:
                return FeatureSource.ready(cached)
        source = self._in_flight.get(image_id)
        if source is not None:
            return source
        if pixels is None:
            cached = self.cache.get(image_id)
            if cached is None:
                raise UnknownIdError(
                    field_name,
                    f"image {image_id!r} is unknown or was evicted from the cache: resend the image as 'image'",
                )
            return FeatureSource.ready(cached)
        self.runtime.check_ready()
        source = FeatureSource(False, tuple(pixels.shape[:2]))
        self._in_flight[image_id] = source
        source.task = asyncio.ensure_future(self._encode_staged(image_id, pixels, source))
        return source

    async def _encode_staged(self, image_id: str, pixels: np.ndarray, source: FeatureSource) -> None:
        """Worker jobs of a new image: SAM 2's global pass, then LA's quadrants one encoder pass per job (all four
        in one on GPUs), the last job finishing LA and MR's image term. The quadrant jobs are background jobs: a
        click (on this image or another) waits behind at most the one encoder pass that is running."""
        worker = self.runtime.worker
        try:
            (staged, seconds), waited = await worker.submit(lambda: self._timed(self.predictor.start_encoding, pixels))
            source.sam2.set_result((staged.sam2_features, seconds, waited))

            def next_part():
                if not staged.done:
                    staged.step()
                return staged.features() if staged.done else None

            features = None
            while features is None:
                (features, part_s), part_wait = await worker.submit(lambda: self._timed(next_part), background=True)
                seconds, waited = seconds + part_s, waited + part_wait
            source.full.set_result((features, seconds, waited))
            self.cache.put(image_id, features)
        except BaseException as e:  # noqa: BLE001  (handed to every request waiting on this image)
            for future in (source.sam2, source.full):
                if not future.done():
                    future.set_exception(e)
        finally:
            self._in_flight.pop(image_id, None)

    def _timed(self, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        synchronize(self.runtime.device)
        return out, time.perf_counter() - start
