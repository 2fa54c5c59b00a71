"""The image feature's engine: prompts in, masks out, every torch call on the runtime's device worker.

    engine = ImageEngine(runtime, settings)                        # in the lifespan
    source = engine.feature_source(image_id, pixels)              # get or encode the image's features (encoding.py)
    result = await engine.segment(source, image_id, objects, ...)  # decode: SAM 2 (+ the refiner)
    async for part in engine.segment_stream(source, ...): ...     # SAM 2's masks first, then the refined ones

Objects whose prompts have the same shape (number of points, box or not, mask or not) share one decoder pass,
within a request and across concurrent requests on the same cached image. Nothing here knows HTTP: the router
validates and decodes before, and encodes the answer after. A request that fails validation changes no cache
(nothing starts before it is valid); features are stored once their last encoding job is done, logits once
every object of the request succeeded.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sam2refiner.model import SAM2RefinerImagePredictor
from sam2refiner.model.features import ImageFeatures

from ..core import metrics
from ..core.errors import QueueFullError, UnknownIdError
from ..core.runtime import Runtime
from ..core.settings import Settings
from .cache import ByteLRU
from .encoding import FeatureEncoder, FeatureSource


@dataclass
class PreparedObject:
    """One object's prompts, validated, in original-image pixels."""

    points: np.ndarray | None = None  # [P, 2] float (x, y)
    labels: np.ndarray | None = None  # [P] int (1 foreground, 0 background)
    box: np.ndarray | None = None  # [4] float x0, y0, x1, y1
    mask: np.ndarray | None = None  # bool [H, W], from an RLE mask prompt
    logits: torch.Tensor | None = None  # [1, m, m], from a logits id

    def signature(self) -> tuple:
        """Objects with equal signatures can share one decoder pass and get the same results as alone."""
        n_points = 0 if self.points is None else len(self.points)
        return n_points, self.box is not None, self.mask is not None or self.logits is not None


@dataclass
class LogitsEntry:
    image_id: str
    logits: torch.Tensor  # [1, m, m] float32 on the CPU

    def nbytes(self) -> int:
        return self.logits.numel() * self.logits.element_size()


@dataclass
class ObjectMasks:
    """One object's masks of an engine answer (numpy; the route encodes them)."""

    masks: np.ndarray  # bool [M, H, W]
    scores: np.ndarray  # [M]
    logits_ids: list[str]


@dataclass
class EngineResult:
    """The engine's answer to one /segment request (one part of it when streamed)."""

    image_id: str
    height: int
    width: int
    objects: list[ObjectMasks]
    cache_hit: bool
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    batch_size: int = 1  # requests that shared the decoder pass
    stage: str = "refined"  # "sam2" (SAM 2's masks, refiner off) or "refined"
    final: bool = True  # the last answer to the request


class ImageEngine:
    def __init__(self, runtime: Runtime, settings: Settings):
        self.runtime = runtime
        self.refine = runtime.refine  # the refine policy it applies
        self.predictor = SAM2RefinerImagePredictor(runtime.model)
        self.encoder = FeatureEncoder(runtime, self.predictor, settings.feature_cache_bytes)
        self.logits: ByteLRU[LogitsEntry] = ByteLRU("logits", settings.logits_cache_bytes, LogitsEntry.nbytes)

    async def warmup(self) -> None:
        """One dummy encode + decode, so the first user request does not pay for lazy initialisation."""
        pixels = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
        obj = PreparedObject(
            points=np.array([[40.0, 30.0]]), labels=np.array([1]), box=np.array([10.0, 10.0, 80.0, 50.0])
        )
        refine = self.refine.default
        await self.runtime.worker.submit(
            lambda: self._decode_objects(self.predictor.encode([pixels]), [obj], True, refine)
        )

    def feature_source(self, image_id: str, pixels: np.ndarray | None = None) -> FeatureSource:
        """The image's features: cached, being encoded, or (with ``pixels``) encoded now; 404 for an unknown id."""
        return self.encoder.source(image_id, pixels)

    def cached_logits(self, logits_id: str, image_id: str, field_name: str) -> torch.Tensor:
        entry = self.logits.get(logits_id)
        if entry is None:
            raise UnknownIdError(
                field_name,
                f"logits {logits_id!r} are unknown or were evicted: resend the object's prompts without them",
            )
        if entry.image_id != image_id:
            raise UnknownIdError(field_name, f"logits {logits_id!r} belong to another image")
        return entry.logits

    # ------------------------------------------------------------------ segmentation
    async def segment(
        self, source: FeatureSource, image_id: str, objects: list[PreparedObject], multimask: bool, refine: bool
    ) -> EngineResult:
        """The masks of ``objects`` as the non-streamed answer gives them: refined once the image's features are
        complete, or SAM 2's (``refine`` false) as soon as its global pass is done."""
        stage = "refined" if self.refine.refines(refine) else "sam2"
        return await self.segment_stage(source, image_id, objects, multimask, stage)

    async def segment_stream(
        self, source: FeatureSource, image_id: str, objects: list[PreparedObject], multimask: bool, refine: bool
    ):
        """Yields SAM 2's masks first (one global encoder pass), then, when refining, the refined masks (equal to
        ``segment``'s answer) once the quadrants are encoded; the last result has ``final`` set."""
        refining = self.refine.refines(refine)
        first = await self.segment_stage(source, image_id, objects, multimask, "sam2")
        first.final = not refining
        yield first
        if refining:
            yield await self.segment_stage(source, image_id, objects, multimask, "refined")

    async def segment_stage(
        self, source: FeatureSource, image_id: str, objects: list[PreparedObject], multimask: bool, stage: str
    ) -> EngineResult:
        """One stage's masks: "sam2" (refiner off, from SAM 2's features) or "refined" (from the complete ones).
        Decoding is a batchable job: requests on the same features (same multimask and stage) that wait together
        share a pass. Logits are kept only once every object of the request succeeded."""
        self.runtime.check_ready()
        try:
            features, encode_s, encode_wait = await asyncio.shield(source.sam2 if stage == "sam2" else source.full)
        except QueueFullError:
            if source.refusal_counted:  # the worker counted the refused job once; every request it fails counts
                metrics.QUEUE_REJECTED.inc()
            source.refusal_counted = True
            raise
        refine = stage == "refined"
        key = ("decode", id(features), multimask, refine)  # payloads hold their features: ids stay unique
        (outputs, timings), waited, batch_size = await self.runtime.worker.submit_batched(
            key, (features, objects), lambda payloads: self._decode_batch(payloads, multimask, refine)
        )
        results = [
            ObjectMasks(masks, scores, self._keep_logits(image_id, low_res)) for masks, scores, low_res in outputs
        ]
        h, w = features.orig_hw[0]
        if source.cache_hit:
            encode_s = encode_wait = 0.0
        timings = {**timings, "encode": encode_s, "queue_wait": waited + encode_wait}
        return EngineResult(image_id, h, w, results, source.cache_hit, timings, batch_size, stage=stage)

    def _keep_logits(self, image_id: str, low_res: torch.Tensor) -> list[str]:
        """Stores each candidate's low-res logits [m, m] under a new server-made id."""
        ids = []
        for candidate in low_res:
            logits_id = "lg_" + secrets.token_hex(12)
            self.logits.put(logits_id, LogitsEntry(image_id, candidate[None].clone()))
            ids.append(logits_id)
        return ids

    def _decode_batch(self, payloads: list, multimask: bool, refine: bool) -> list:
        """Worker thread: several requests' objects on the same features in one pass, split back per request."""
        feats = payloads[0][0]
        flat = [obj for _, objects in payloads for obj in objects]
        outputs, timings = self._decode_objects(feats, flat, multimask, refine)
        results, start = [], 0
        for _, objects in payloads:
            results.append((outputs[start : start + len(objects)], timings))
            start += len(objects)
        return results

    def _decode_objects(self, feats: ImageFeatures, objects: list[PreparedObject], multimask: bool, refine: bool):
        """Runs on a device-worker thread: one decoder pass per group of same-shaped objects, results in input order."""
        groups: dict[tuple, list[int]] = {}
        for i, obj in enumerate(objects):
            groups.setdefault(obj.signature(), []).append(i)
        outputs: list = [None] * len(objects)
        timings = {"decoder": 0.0, "refine": 0.0}
        for (n_points, has_box, has_mask), members in groups.items():
            group = [objects[i] for i in members]
            kwargs = {}
            if n_points:
                kwargs["point_coords"] = np.stack([o.points for o in group])
                kwargs["point_labels"] = np.stack([o.labels for o in group])
            if has_box:
                kwargs["box"] = np.stack([o.box for o in group])
            if has_mask:
                kwargs["mask_input"] = torch.cat([self._mask_logits(o) for o in group])[:, None]
            start, stages = time.perf_counter(), {}
            masks, scores, low_res = self.predictor.predict_on_features(
                feats, multimask_output=multimask, refine=refine, timings=stages, **kwargs
            )
            masks, scores, low_res = masks.cpu().numpy(), scores.float().cpu().numpy(), low_res.float().cpu()
            # "decoder": everything but Prompt Retargeting and Mask Refinement (prompts, SAM 2, resizing, copies)
            timings["refine"] += stages.get("refine", 0.0)
            timings["decoder"] += time.perf_counter() - start - stages.get("refine", 0.0)
            for k, i in enumerate(members):
                outputs[i] = (masks[k], scores[k], low_res[k])
        return outputs, timings

    def _mask_logits(self, obj: PreparedObject) -> torch.Tensor:
        """[1, m, m] mask-prompt logits of an object: its cached logits, or its binary mask (the model converts)."""
        if obj.logits is not None:
            return obj.logits.to(self.runtime.device, torch.float32)
        return self.runtime.model.mask_prompt_logits(obj.mask)


__all__ = ["ImageEngine", "PreparedObject", "EngineResult", "ObjectMasks"]
