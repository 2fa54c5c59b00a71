"""``GET /v1/model``: what runs, on what, with which weights; the same said loudly in the log at start-up, and as
the ``sam2refiner_model_info`` metric."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, Field

from ..core import metrics
from ..core.runtime import Runtime

log = logging.getLogger("sam2refiner.service")


class WeightsOut(BaseModel):
    sam2_checkpoint: str | None
    sam2_sha256: str | None
    sam2_source: str = Field(
        description="where SAM 2's weights come from (a file, the official Hub file) or why they are RANDOM"
    )
    refiner_checkpoint: str | None
    refiner_sha256: str | None
    random_weights: bool = Field(description="true when SAM 2 or the refiner runs on random weights")
    warning: str | None


class ModelOut(BaseModel):
    config: str
    config_reason: str = Field(
        description="why this config: asked for, read from the checkpoint, or auto for the device"
    )
    refiner: Literal["none", "random", "trained"] = Field(
        description="trained: a refiner checkpoint is loaded (weights.refiner_sha256); random: RANDOM refiner "
        "weights (SAM2REFINER_RANDOM_REFINER); none: SAM 2 alone, refine requests answer 409"
    )
    refine_default: bool = Field(description="what a request without 'refine' gets")
    image_size: int
    device: str
    dtype: str
    dtypes: dict[str, str] = Field(description="compute dtype of each path: image (/segment) and video (WebSocket)")
    modules: dict[str, bool]
    weights: WeightsOut
    feature_cache_bytes: int
    logits_cache_bytes: int
    max_image_pixels: int = Field(description="largest image (width x height) /segment and video frames accept")
    ready: bool


def describe(runtime: Runtime) -> dict:
    """The ``/v1/model`` answer (``ModelOut``)."""
    model, w, settings = runtime.model, runtime.weights, runtime.settings
    random = w.random_sam2 or w.refiner == "random"
    warning = None
    if random:
        which = [n for n, r in (("SAM 2", w.random_sam2), ("refiner", w.refiner == "random")) if r]
        warning = f"RANDOM WEIGHTS ({' and '.join(which)}): masks are meaningless"
        if w.random_sam2:
            warning += f"; {w.sam2_source.removeprefix('RANDOM: ')}"
        if w.refiner == "random":
            warning += "; the refiner's because SAM2REFINER_RANDOM_REFINER is on"
    return {
        "config": model.config.sam2_config,
        "config_reason": w.config_reason,
        "refiner": w.refiner,
        "refine_default": runtime.refine.default,
        "image_size": model.image_size,
        "device": str(runtime.device),
        "dtype": runtime.dtype,
        # Both paths run under model.runtime.inference_context (the image predictor and the video tracker).
        "dtypes": {"image": runtime.dtype, "video": runtime.dtype},
        "modules": model.config.modules.as_dict(),
        "weights": {
            "sam2_checkpoint": w.sam2_checkpoint,
            "sam2_sha256": w.sam2_sha256,
            "sam2_source": w.sam2_source,
            "refiner_checkpoint": w.refiner_checkpoint,
            "refiner_sha256": w.refiner_sha256,
            "random_weights": bool(random),
            "warning": warning,
        },
        "feature_cache_bytes": settings.feature_cache_bytes,
        "logits_cache_bytes": settings.logits_cache_bytes,
        "max_image_pixels": settings.max_image_pixels,
        "ready": runtime.ready,
    }


def announce(runtime: Runtime) -> None:
    """At start-up: the model in the log (random weights in a banner nobody can miss) and in the metric."""
    description = describe(runtime)
    metrics.MODEL_INFO.labels(
        description["config"],
        str(description["image_size"]),
        description["device"],
        description["dtype"],
        ",".join(k for k, v in description["modules"].items() if v) or "none",
        str(description["weights"]["random_weights"]).lower(),
    ).set(1)
    _log_banner(description)


def _log_banner(description: dict) -> None:
    log.warning(
        "SAM2Refiner serving %s at %d on %s (%s); refiner: %s (modules %s, refine by default: %s)",
        description["config"],
        description["image_size"],
        description["device"],
        description["dtype"],
        description["refiner"],
        description["modules"],
        description["refine_default"],
    )
    log.warning(
        "config %s: %s; SAM 2 weights: %s",
        description["config"],
        description["config_reason"],
        description["weights"]["sam2_source"],
    )
    warning = description["weights"]["warning"]
    if warning:
        bar = "!" * len(warning)
        log.warning("\n%s\n%s\n%s", bar, warning, bar)
