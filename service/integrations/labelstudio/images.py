"""Images: a smart tool's click or box, or a task's boxes, through the image engine (the same path as
``POST /segment``, in-process), answered as Label Studio regions.

The image is fetched and encoded once per task: its URL maps to the engine's ``image_id`` while the engine still
holds its features. A corrective click on the same object reuses the previous answer's low-res logits, as a
``/segment`` client passes ``mask_logits_id``: the answer to clicks P1..Pn is decoded from P1..Pn plus the logits
kept for P1..Pn-1. A single click without a box asks SAM 2 for three candidates and keeps the best (SAM 2's advice
for an ambiguous prompt); everything else asks for one mask.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from starlette.concurrency import run_in_threadpool

from ...core.errors import InvalidFieldError, UnknownIdError
from ...core.images import decode_image_bytes, image_id_for
from ...core.prompts import check_geometry
from ...core.settings import Settings
from ...image.encoding import FeatureSource
from ...image.engine import ImageEngine, PreparedObject
from .config import LabelConfig, ObjectTag
from .fetch import TaskDataFetcher
from .protocol import ImageObject, context_objects, mask_regions, prediction, task_boxes

KEPT = 1024  # URLs -> image ids, and previous answers' logits ids, kept per process


class LabelStudioImages:
    def __init__(self, engine: ImageEngine, settings: Settings, fetcher: TaskDataFetcher):
        self.engine, self.settings, self.fetcher = engine, settings, fetcher
        self._images: OrderedDict[str, tuple[str, tuple[int, int]]] = OrderedDict()  # url -> (image_id, (h, w))
        self._answers: OrderedDict[tuple, str] = OrderedDict()  # (image_id, object key) -> logits_id

    async def interactive(self, task: dict, results: list, config: LabelConfig, refine: bool, version: str) -> dict:
        """The answer to a smart tool's regions (``context.result``) on one task."""
        image = _image_of(results, config)
        source, image_id, hw = await self._features(task, image, "tasks.0")
        image, objects = context_objects(results, config, hw)
        return await self._answer(source, image_id, hw, image, objects, config, refine, version)

    async def preannotate(self, task: dict, index: int, config: LabelConfig, refine: bool, version: str) -> dict:
        """A mask for every box the task already holds; an empty prediction for a task without boxes."""
        image = config.first_image()
        if image is None:
            return prediction([], [], version)
        source, image_id, hw = await self._features(task, image, f"tasks.{index}")
        objects = task_boxes(task, config, image, hw, f"tasks.{index}")
        if not objects:
            return prediction([], [], version)
        return await self._answer(source, image_id, hw, image, objects, config, refine, version)

    # ------------------------------------------------------------------ internals
    async def _features(self, task: dict, image: ObjectTag, where: str) -> tuple[FeatureSource, str, tuple]:
        url = _task_url(task, image, where)
        kept = self._images.get(url)
        if kept is not None:
            image_id, hw = kept
            try:
                source = self.engine.feature_source(image_id)  # cached or still being encoded
                self._images.move_to_end(url)
                return source, image_id, hw
            except UnknownIdError:  # evicted: fetch and encode again
                del self._images[url]
        field = f"{where}.data.{image.value_key}"
        raw = await self.fetcher.fetch(url, field, self.settings.max_body_bytes)
        pixels, image_id = await run_in_threadpool(_decode, raw, self.settings.max_image_pixels, field)
        hw = (int(pixels.shape[0]), int(pixels.shape[1]))
        source = self.engine.feature_source(image_id, pixels)
        _keep(self._images, url, (image_id, hw))
        return source, image_id, hw

    async def _answer(self, source, image_id, hw, image, objects: list[ImageObject], config, refine, version) -> dict:
        outputs = config.image_outputs(image.name)
        if not outputs:
            raise InvalidFieldError(
                "label_config", f"no <BrushLabels> or <PolygonLabels> on {image.name!r}: nothing to answer in"
            )
        if len(objects) > self.settings.max_objects:
            raise InvalidFieldError("objects", f"{len(objects)} objects; the limit is {self.settings.max_objects}")
        prepared = [self._prepare(obj, image_id, hw) for obj in objects]
        regions, scores = [], []
        for obj, prep in zip(objects, prepared):  # one decode per object: each may want one or three masks
            multimask = prep.box is None and prep.logits is None and prep.points is not None and len(prep.points) == 1
            result = await self.engine.segment(source, image_id, [prep], multimask, refine)
            masks = result.objects[0]
            best = int(np.argmax(masks.scores))
            _keep(self._answers, (image_id, obj.key()), masks.logits_ids[best])
            score = float(masks.scores[best])
            mask = masks.masks[best]
            regions += await run_in_threadpool(mask_regions, mask, score, obj, outputs, image)
            scores.append(score)
        return prediction(regions, scores, version)

    def _prepare(self, obj: ImageObject, image_id: str, hw: tuple[int, int]) -> PreparedObject:
        if len(obj.points) > self.settings.max_points:
            raise InvalidFieldError(obj.where, f"{len(obj.points)} clicks; the limit is {self.settings.max_points}")
        points = obj.points or None
        labels = obj.labels or None
        out = PreparedObject()
        out.points, out.labels, out.box = check_geometry(points, labels, obj.box, hw, obj.where)
        if len(obj.points) > 1:  # a corrective click: the previous answer's logits, if this process still has them
            previous = self._answers.get((image_id, obj.key(drop_last_point=True)))
            if previous is not None:
                try:
                    out.logits = self.engine.cached_logits(previous, image_id, obj.where)
                except UnknownIdError:
                    pass
        return out


def _image_of(results: list, config: LabelConfig) -> ObjectTag:
    """The image a smart tool's first region is on (checked in full by ``context_objects``)."""
    first = results[0] if results and isinstance(results[0], dict) else {}
    control = config.control(str(first.get("from_name")), "context.result.0.from_name")
    image = config.object_of(control, "context.result.0.to_name")
    if image.kind != "image":
        raise InvalidFieldError("context.result.0.to_name", f"{image.name!r} is not an <Image>")
    return image


def _task_url(task: dict, image: ObjectTag, where: str) -> str:
    data = task.get("data")
    url = data.get(image.value_key) if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        raise InvalidFieldError(
            f"{where}.data.{image.value_key}",
            f'the task has no {image.value_key!r} (the labeling config\'s <Image value="${image.value_key}">)',
        )
    return url


def _decode(raw: bytes, max_pixels: int, field: str):
    pixels = decode_image_bytes(raw, max_pixels, field)
    return pixels, image_id_for(pixels)


def _keep(cache: OrderedDict, key, value) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > KEPT:
        cache.popitem(last=False)
