"""``GET /v1/model``: what runs, on what, with which weights; the same said loudly in the log at start-up."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, Field

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
    ready: bool


def log_model_banner(description: dict) -> None:
    """Says loudly what this process runs on; random weights get a banner nobody can miss."""
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
