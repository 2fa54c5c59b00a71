"""The one factory: a SAM2Refiner from a SAM 2.1 config, an input size, a device and optional checkpoints.

    model = build_sam2refiner("hiera_t", 256, "cpu", sam2_checkpoint=..., refiner_checkpoint=...)
    model, weights = load_model(config="auto", device="auto", fetch=True, ...)   # a server: + what was loaded, why

The weights are chosen once (``weights.choice.choose_weights``: the refiner file is read there and loaded from
what was read). Building changes no global state: no torch flag (TF32 is ``runtime.enable_tf32``, called by
the service at start-up), and sam2 only gets the hooks its builder installs explicitly (``sam2_compat.hooks``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import torch

from .config import RefinerConfig, RefinerSwitches
from .errors import CheckpointError
from .runtime import resolve_device
from .sam2_compat import build_sam2_base
from .sam2refiner import SAM2Refiner
from .weights.choice import WeightsInfo, choose_weights
from .weights.official import load_official_checkpoint
from .weights.refiner_checkpoint import load_refiner_weights

log = logging.getLogger(__name__)


def build_sam2refiner(
    config: str = "auto",
    image_size: int = 1024,
    device: str | torch.device | None = "cpu",
    sam2_checkpoint: str | Path | None = None,
    refiner_checkpoint: str | Path | None = None,
    modules: RefinerSwitches | None = None,
    seed: int = 0,
    video: bool = False,
    compile_encoder: bool = False,
    *,
    fetch: bool = False,
    fetch_timeout_s: float = 3.0,
    endpoint: str | None = None,
) -> SAM2Refiner:
    """Builds SAM 2 (frozen, eval, no grad) and the refiner modules; ``model.weights`` (a ``WeightsInfo``) says
    which weights were loaded and why.

    ``config`` "auto" takes the config of ``sam2_checkpoint`` (from its tensor shapes), else of the refiner
    checkpoint, else hiera_l on CUDA and hiera_t on a CPU; a named config the checkpoint disagrees with is
    refused. Without ``sam2_checkpoint`` SAM 2's weights are random (seeded), unless ``fetch`` gets the official
    file (from the Hugging Face Hub cache, else the Hub: ``endpoint``, ``fetch_timeout_s``); without
    ``refiner_checkpoint`` so are the refiner's. A refiner checkpoint brings its own module switches; asking for
    others, or for another config or size, is refused. ``video=True`` uses the options of sam2's video builder.
    """
    device = resolve_device(device)
    choice = choose_weights(
        config,
        device,
        sam2_checkpoint,
        refiner_checkpoint,
        fetch=fetch,
        fetch_timeout_s=fetch_timeout_s,
        endpoint=endpoint,
    )
    config, ckpt = choice.sam2.config, choice.refiner
    if modules is None:
        modules = ckpt.config.modules if ckpt is not None else RefinerSwitches()
    refiner_config = RefinerConfig(sam2_config=config, image_size=image_size, modules=modules)
    if ckpt is not None:
        refiner_config = replace(
            refiner_config, mr_channels=ckpt.config.mr_channels, click_radius=ckpt.config.click_radius
        )

    sam2 = build_sam2_base(config, image_size, video=video, seed=seed)
    sam2_sha = load_official_checkpoint(sam2, choice.sam2.checkpoint) if choice.sam2.checkpoint is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        model = SAM2Refiner(sam2, refiner_config)
    refiner_sha = load_refiner_weights(model, ckpt) if ckpt is not None else None
    model = model.to(device).eval()
    if compile_encoder:
        model.sam2.image_encoder.forward = torch.compile(model.sam2.image_encoder.forward, dynamic=False)
    model.weights = WeightsInfo(
        config=config,
        config_reason=choice.sam2.config_reason,
        sam2_source=choice.sam2.weights,
        sam2_checkpoint=str(choice.sam2.checkpoint) if choice.sam2.checkpoint is not None else None,
        sam2_sha256=sam2_sha,
        refiner_checkpoint=str(ckpt.path) if ckpt is not None else None,
        refiner_sha256=refiner_sha,
        seed=seed,
        has_refiner=modules.any(),
    )
    if sam2_sha is None:
        reason = choice.sam2.weights.removeprefix("RANDOM: ")
        log.warning("SAM 2 %s is running on RANDOM weights (%s): masks are meaningless", config, reason)
    if refiner_sha is None and modules.any():
        log.warning("SAM2Refiner modules %s are RANDOM (no refiner checkpoint given)", modules.as_dict())
    return model


def load_model(**options) -> tuple[SAM2Refiner, WeightsInfo]:
    """``build_sam2refiner(**options)`` for a server: the model and where its weights came from (config and
    weights with their reasons, files and sha256s), for its logs and /v1/model."""
    model = build_sam2refiner(**options)
    return model, model.weights


__all__ = ["build_sam2refiner", "load_model", "WeightsInfo", "resolve_device", "CheckpointError"]
