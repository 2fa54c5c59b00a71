"""The one place that owns the model: the device worker, the feature and logits caches, per-stage timings.

    engine = InferenceEngine(settings); engine.load()            # builds the model (blocking; lifespan)
    source = engine.feature_source(image_id, pixels)              # get or encode the image's features
    result = await engine.segment(source, image_id, objects, ...)  # decode: SAM 2 (+ the refiner)
    async for part in engine.segment_stream(source, ...): ...     # SAM 2's masks first, then the refined ones

A new image is encoded in worker jobs of one encoder pass each (SAM 2's global pass, then LA's quadrants), so SAM
2's masks are ready after the first and other images' clicks slip in between; ``engine.feature_source(image_id)``
finds an image in the cache or still encoding.

Routes validate and decode; everything that touches torch runs here, on the worker thread. Objects whose prompts have
the same shape (number of points, box or not, mask or not) share one decoder pass, within a request and across
concurrent requests on the same cached image.
A request that fails validation changes no cache (nothing starts before it is valid); features are stored once
their last encoding job is done, logits once every object of the request succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sam2refiner.model import RefinerSwitches, SAM2RefinerImagePredictor, build_sam2refiner, resolve_device
from sam2refiner.model.checkpoint import read_refiner_checkpoint
from sam2refiner.model.features import ImageFeatures
from sam2refiner.model.sam2_choice import choose_sam2

from ..core import metrics
from ..core.errors import NotReadyError, QueueFullError, RefinerNotLoadedError, UnknownIdError
from ..core.settings import Settings
from ..core.worker import DeviceWorker
from .cache import ByteLRU

log = logging.getLogger(__name__)


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


class InferenceEngine:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.ready = False
        self.model = self.predictor = self.worker = None
        self.features: ByteLRU[ImageFeatures] = ByteLRU("features", settings.feature_cache_bytes, lambda f: f.nbytes())
        self.logits: ByteLRU[LogitsEntry] = ByteLRU("logits", settings.logits_cache_bytes, LogitsEntry.nbytes)
        self._encoding: dict[str, FeatureSource] = {}  # image_id -> its staged encoding in flight

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        """Builds the model on its device (blocking: call it from a thread) and starts the worker."""
        s = self.settings
        refiner_config = read_refiner_checkpoint(s.refiner_checkpoint)[0].sam2_config if s.refiner_checkpoint else None
        self.sam2_choice = choose_sam2(
            s.sam2_config,
            resolve_device(s.device),
            s.sam2_checkpoint,
            refiner_config=refiner_config,
            fetch=s.fetch_weights,
            fetch_timeout_s=s.fetch_timeout_s,
        )
        self.model = build_sam2refiner(
            self.sam2_choice.config,
            s.image_size,
            s.device,
            sam2_checkpoint=self.sam2_choice.checkpoint,
            refiner_checkpoint=s.refiner_checkpoint,
            seed=s.seed,
            modules=self._refiner_modules(),
            video=True,  # sam2's video-builder options too: they only change memory encoding (video sessions)
        )
        self.predictor = SAM2RefinerImagePredictor(self.model)
        self.worker = DeviceWorker(str(self.device), s.queue_size, s.retry_after_s)
        info = self.describe()
        metrics.MODEL_INFO.labels(
            info["config"],
            str(info["image_size"]),
            info["device"],
            info["dtype"],
            ",".join(k for k, v in info["modules"].items() if v) or "none",
            str(info["weights"]["random_weights"]).lower(),
        ).set(1)

    def _refiner_modules(self) -> RefinerSwitches | None:
        """A checkpoint brings its own modules; without one, random modules only when asked for explicitly."""
        if self.settings.refiner_checkpoint is not None:
            return None
        return RefinerSwitches() if self.settings.random_refiner else RefinerSwitches.off()

    @property
    def refiner(self) -> str:
        """ "trained", "random" or "none" (SAM 2 alone)."""
        return self.model.weights.refiner

    def resolve_refine(self, requested, field_name: str = "refine") -> bool:
        """What a request's ``refine`` means here: unset is on when a refiner is loaded (trained, or random by
        explicit choice); asking for the refiner on a server without one is an error, never SAM 2's mask."""
        if requested is None:
            return self.refiner != "none"
        if self.refiner == "none" and (requested is True or (isinstance(requested, dict) and any(requested.values()))):
            raise RefinerNotLoadedError(
                field_name,
                "this server runs SAM 2 alone (no refiner loaded): send refine=false or leave it out, or start the "
                "server with SAM2REFINER_REFINER_CHECKPOINT=<trained refiner .safetensors> "
                "(SAM2REFINER_RANDOM_REFINER=true gives random refiner weights, for tests and demos)",
            )
        return requested

    async def warmup(self) -> None:
        """One dummy encode + decode, so the first user request does not pay for lazy initialisation."""
        if self.settings.warmup:
            pixels = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
            obj = PreparedObject(
                points=np.array([[40.0, 30.0]]), labels=np.array([1]), box=np.array([10.0, 10.0, 80.0, 50.0])
            )
            refine = self.resolve_refine(None)
            await self.worker.submit(lambda: self._decode_objects(self.predictor.encode([pixels]), [obj], True, refine))
        self.ready = True
        metrics.MODEL_READY.set(1)

    def close(self) -> None:
        self.ready = False
        metrics.MODEL_READY.set(0)
        if self.worker is not None:
            self.worker.close()

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> str:
        return self.model.inference_dtype

    def describe(self) -> dict:
        w = self.model.weights
        random = w.random_sam2 or w.refiner == "random"
        warning = None
        if random:
            which = [n for n, r in (("SAM 2", w.random_sam2), ("refiner", w.refiner == "random")) if r]
            warning = f"RANDOM WEIGHTS ({' and '.join(which)}): masks are meaningless"
            if w.random_sam2:
                warning += f"; {self.sam2_choice.weights.removeprefix('RANDOM: ')}"
            if w.refiner == "random":
                warning += "; the refiner's because SAM2REFINER_RANDOM_REFINER is on"
        return {
            "config": self.model.config.sam2_config,
            "config_reason": self.sam2_choice.config_reason,
            "refiner": w.refiner,
            "refine_default": self.resolve_refine(None),
            "image_size": self.model.image_size,
            "device": str(self.device),
            "dtype": self.dtype,
            # Both paths run under SAM2Refiner.inference_context (the image predictor and the video tracker).
            "dtypes": {"image": self.dtype, "video": self.dtype},
            "modules": self.model.config.modules.as_dict(),
            "weights": {
                "sam2_checkpoint": w.sam2_checkpoint,
                "sam2_sha256": w.sam2_sha256,
                "sam2_source": self.sam2_choice.weights,
                "refiner_checkpoint": w.refiner_checkpoint,
                "refiner_sha256": w.refiner_sha256,
                "random_weights": bool(random),
                "warning": warning,
            },
            "feature_cache_bytes": self.settings.feature_cache_bytes,
            "logits_cache_bytes": self.settings.logits_cache_bytes,
            "ready": self.ready,
        }

    # ------------------------------------------------------------------ lookups (event loop side; no torch)
    def cached_features(self, image_id: str, field_name: str = "image_id") -> ImageFeatures:
        feats = self.features.get(image_id)
        if feats is None:
            raise UnknownIdError(
                field_name, f"image {image_id!r} is unknown or was evicted from the cache: resend the image as 'image'"
            )
        return feats

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

    # ------------------------------------------------------------------ features: cached, or encoded stage by stage
    def feature_source(
        self,
        image_id: str,
        pixels: np.ndarray | None = None,
        features: ImageFeatures | None = None,
        field_name: str = "image_id",
    ) -> FeatureSource:
        """An image's features: ``features`` (from the cache), the encoding of ``image_id`` already in flight, or
        (with ``pixels``) a new staged encoding. Without any of them the id is unknown (404)."""
        if features is not None:
            return FeatureSource.ready(features)
        source = self._encoding.get(image_id)
        if source is not None:
            return source
        if pixels is None:
            features = self.cached_features(image_id, field_name)
            return FeatureSource.ready(features)
        if not self.ready:
            raise self._not_ready()
        source = FeatureSource(False, tuple(pixels.shape[:2]))
        self._encoding[image_id] = source
        source.task = asyncio.ensure_future(self._encode_staged(image_id, pixels, source))
        return source

    async def _encode_staged(self, image_id: str, pixels: np.ndarray, source: FeatureSource) -> None:
        """Worker jobs of a new image: SAM 2's global pass, then LA's quadrants one encoder pass per job (all four
        in one on GPUs), the last job finishing LA and MR's image term. The quadrant jobs are background jobs: a
        click (on this image or another) waits behind at most the one encoder pass that is running. The complete
        features enter the cache when the last job is done."""
        try:
            (staged, seconds), waited = await self.worker.submit(
                lambda: self._timed(self.predictor.start_encoding, pixels)
            )
            source.sam2.set_result((staged.sam2_features, seconds, waited))

            def next_part():
                if not staged.done:
                    staged.step()
                return staged.features() if staged.done else None

            features = None
            while features is None:
                (features, part_s), part_wait = await self.worker.submit(
                    lambda: self._timed(next_part), background=True
                )
                seconds, waited = seconds + part_s, waited + part_wait
            source.full.set_result((features, seconds, waited))
            self.features.put(image_id, features)
        except BaseException as e:  # noqa: BLE001  (handed to every request waiting on this image)
            for future in (source.sam2, source.full):
                if not future.done():
                    future.set_exception(e)
        finally:
            self._encoding.pop(image_id, None)

    def _timed(self, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        self.model.synchronize()
        return out, time.perf_counter() - start

    def _not_ready(self) -> NotReadyError:
        return NotReadyError(
            None,
            "the model is still loading or warming up; retry shortly",
            headers={"Retry-After": str(self.settings.retry_after_s)},
        )

    # ------------------------------------------------------------------ segmentation
    def refines(self, refine: bool) -> bool:
        """Whether ``refine`` means any work beyond SAM 2's path for the loaded model."""
        return bool(refine) and self.model.config.modules.any()

    async def segment(
        self, source: FeatureSource, image_id: str, objects: list[PreparedObject], multimask: bool, refine: bool
    ) -> EngineResult:
        """The masks of ``objects`` as the non-streamed answer gives them: refined once the image's features are
        complete, or SAM 2's (``refine`` false) as soon as its global pass is done."""
        stage = "refined" if self.refines(refine) else "sam2"
        return await self.segment_stage(source, image_id, objects, multimask, stage)

    async def segment_stream(
        self, source: FeatureSource, image_id: str, objects: list[PreparedObject], multimask: bool, refine: bool
    ):
        """Yields SAM 2's masks first (one global encoder pass), then, when refining, the refined masks (equal to
        ``segment``'s answer) once the quadrants are encoded; the last result has ``final`` set."""
        refining = self.refines(refine)
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
        if not self.ready:
            raise self._not_ready()
        try:
            features, encode_s, encode_wait = await asyncio.shield(source.sam2 if stage == "sam2" else source.full)
        except QueueFullError:
            if source.refusal_counted:  # the worker counted the refused job once; every request it fails counts
                metrics.QUEUE_REJECTED.inc()
            source.refusal_counted = True
            raise
        refine = stage == "refined"
        key = ("decode", id(features), multimask, refine)  # payloads hold their features: ids stay unique
        (outputs, timings), waited, batch_size = await self.worker.submit_batched(
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
        """Runs on the worker thread: one decoder pass per group of same-shaped objects, results in input order."""
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
            return obj.logits.to(self.device, torch.float32)
        return self.model.mask_prompt_logits(obj.mask)


__all__ = ["InferenceEngine", "FeatureSource", "PreparedObject", "EngineResult", "ObjectMasks"]
