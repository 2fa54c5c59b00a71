"""The one factory: a SAM2Refiner from a SAM 2.1 config, an input size, a device and optional checkpoints."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .checkpoint import load_refiner_weights, read_refiner_checkpoint
from .config import RefinerConfig, RefinerSwitches
from .errors import CheckpointError
from .sam2_choice import choose_sam2
from .sam2_loader import build_sam2_base
from .sam2refiner import SAM2Refiner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsInfo:
    """Where the weights came from; the service shows this in /v1/model."""

    sam2_checkpoint: str | None
    sam2_sha256: str | None
    refiner_checkpoint: str | None
    refiner_sha256: str | None
    seed: int
    has_refiner: bool = True  # False when built without any refiner module (SAM 2 alone)

    @property
    def random_sam2(self) -> bool:
        return self.sam2_sha256 is None

    @property
    def random_refiner(self) -> bool:
        return self.refiner_sha256 is None

    @property
    def refiner(self) -> str:
        """ "trained" (a refiner checkpoint is loaded), "random" (modules on random weights) or "none"."""
        if self.refiner_sha256 is not None:
            return "trained"
        return "random" if self.has_refiner else "none"


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: CUDA was asked for but torch sees no GPU")
    return device


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
) -> SAM2Refiner:
    """Builds SAM 2 (frozen, eval, no grad) and the refiner modules.

    ``config`` "auto" takes the config of ``sam2_checkpoint`` (from its tensor shapes), else of the refiner
    checkpoint, else hiera_l on CUDA and hiera_t on a CPU; a named config the checkpoint disagrees with is
    refused. ``model.sam2_choice`` says which and why. Without ``sam2_checkpoint`` SAM 2's weights are random
    (seeded; nothing is fetched here, see ``choose_sam2(..., fetch=True)``); without ``refiner_checkpoint`` so
    are the refiner's. ``model.weights`` records which. A refiner checkpoint brings its own module switches;
    asking for others, or for another config or size, is refused. ``video=True`` uses the options of sam2's
    video builder.
    """
    device = resolve_device(device)
    ckpt_config = None
    if refiner_checkpoint is not None:
        ckpt_config, _, _ = read_refiner_checkpoint(refiner_checkpoint)
    choice = choose_sam2(
        config, device, sam2_checkpoint, refiner_config=ckpt_config.sam2_config if ckpt_config is not None else None
    )
    config = choice.config
    if modules is None:
        modules = ckpt_config.modules if ckpt_config is not None else RefinerSwitches()
    refiner_config = RefinerConfig(sam2_config=config, image_size=image_size, modules=modules)
    if ckpt_config is not None:
        refiner_config = replace(
            refiner_config, mr_channels=ckpt_config.mr_channels, click_radius=ckpt_config.click_radius
        )

    sam2, sam2_sha = build_sam2_base(config, image_size, sam2_checkpoint, device="cpu", video=video, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        model = SAM2Refiner(sam2, refiner_config)
    refiner_sha = load_refiner_weights(model, refiner_checkpoint) if refiner_checkpoint is not None else None
    model = model.to(device).eval()
    if device.type == "cuda" and torch.cuda.get_device_properties(device).major >= 8:
        # As SAM 2's own examples do on Ampere and newer: TF32 for the fp32 parts of bf16-autocast inference.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if compile_encoder:
        model.sam2.image_encoder.forward = torch.compile(model.sam2.image_encoder.forward, dynamic=False)
    model.sam2_choice = choice
    model.weights = WeightsInfo(
        str(sam2_checkpoint) if sam2_checkpoint else None,
        sam2_sha,
        str(refiner_checkpoint) if refiner_checkpoint else None,
        refiner_sha,
        seed,
        modules.any(),
    )
    if sam2_sha is None:
        log.warning("SAM 2 %s is running on RANDOM weights (no checkpoint given): masks are meaningless", config)
    if refiner_sha is None and modules.any():
        log.warning("SAM2Refiner modules %s are RANDOM (no refiner checkpoint given)", modules.as_dict())
    return model


__all__ = ["build_sam2refiner", "WeightsInfo", "resolve_device", "CheckpointError"]
