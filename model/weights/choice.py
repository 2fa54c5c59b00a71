"""Which SAM 2.1 config and which weights to build, and why (the service logs and shows the reasons). The choice
is made here, once per model: ``build.build_sam2refiner`` calls ``choose_weights``.

    choice = choose_sam2("auto", "cpu")                       # hiera_t: the smallest, for a CPU
    choice = choose_sam2("auto", "cuda", "weights/x.pt")      # the config the file's tensor shapes say
    choice = choose_sam2("auto", "cpu", fetch=True)           # + the official file from the Hub, or random weights
    choice = choose_weights("auto", "cpu", refiner_checkpoint="r.safetensors")  # SAM 2's + the refiner file, read

Config ``auto``: with a SAM 2 checkpoint, the config its tensors were made for; else the config a refiner
checkpoint names; else hiera_l on CUDA and hiera_t on a CPU (hiera_l at 1024 on two CPU cores needs over a
minute per new image). A named config that disagrees with the checkpoint is refused, naming the file's config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..sam2_compat.builder import config_of_state_dict
from .official import FetchError, fetch_official_checkpoint, official_file, read_official_state_dict
from .refiner_checkpoint import RefinerCheckpoint, read_refiner_checkpoint

log = logging.getLogger(__name__)

AUTO = "auto"
GPU_CONFIG, CPU_CONFIG = "hiera_l", "hiera_t"


@dataclass(frozen=True)
class SAM2Choice:
    config: str
    config_reason: str
    checkpoint: Path | None  # None: random weights
    weights: str  # where the weights come from, or why they are random, in words

    @property
    def random(self) -> bool:
        return self.checkpoint is None


def _config_for_device(device: torch.device) -> tuple[str, str]:
    if device.type == "cuda":
        return GPU_CONFIG, f"auto: {GPU_CONFIG} (the largest) because the device is a CUDA GPU"
    return CPU_CONFIG, f"auto: {CPU_CONFIG} (the smallest) because the device is a CPU ({device.type})"


def _config_of_file(config: str, path: Path) -> tuple[str, str]:
    found = config_of_state_dict(read_official_state_dict(path), path)
    if config == AUTO:
        return found, f"auto: {found}, read from the tensor shapes of {path}"
    if config != found:
        raise CheckpointError(
            f"SAM 2 checkpoint {path} holds {found} weights (read from its tensor shapes), but "
            f"config {config} was asked for: ask for {found}, or for auto"
        )
    return config, f"{config} as asked (the checkpoint's tensor shapes agree)"


def choose_sam2(
    config: str = AUTO,
    device: torch.device | str = "cpu",
    checkpoint: str | Path | None = None,
    *,
    refiner_config: str | None = None,
    fetch: bool = False,
    fetch_timeout_s: float = 3.0,
    endpoint: str | None = None,
) -> SAM2Choice:
    """Config and weights for ``device``. A bad ``checkpoint`` raises ``CheckpointError``; a failed fetch does
    not: it gives random weights and says why (the caller shows it loudly)."""
    device = torch.device(device)
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        config, reason = _config_of_file(config, checkpoint)
        return SAM2Choice(config, reason, checkpoint, f"checkpoint {checkpoint}")
    if config == AUTO and refiner_config is not None:
        config, reason = refiner_config, f"auto: {refiner_config}, the config the refiner checkpoint was trained on"
    elif config == AUTO:
        config, reason = _config_for_device(device)
    else:
        reason = f"{config} as asked"
    if not fetch:
        return SAM2Choice(config, reason, None, "RANDOM: no SAM 2 checkpoint was given and fetching is off")
    repo, _ = official_file(config)
    try:
        path = fetch_official_checkpoint(config, fetch_timeout_s, endpoint)
        try:
            _config_of_file(config, path)  # reads it: a corrupt or foreign file is caught here, not mid-build
        except CheckpointError as e:
            log.warning("the official %s checkpoint is unusable (%s); downloading it again", config, e)
            path = fetch_official_checkpoint(config, fetch_timeout_s, endpoint, force=True)
            _config_of_file(config, path)
    except FetchError as e:
        return SAM2Choice(
            config,
            reason,
            None,
            f"RANDOM: no SAM 2 checkpoint was given and the official one could not be fetched ({e})",
        )
    except CheckpointError as e:
        return SAM2Choice(
            config, reason, None, f"RANDOM: the official checkpoint is unusable even when downloaded again ({e})"
        )
    return SAM2Choice(config, reason, path, f"official {repo} (Hugging Face Hub, cached at {path})")


@dataclass(frozen=True)
class WeightsChoice:
    """The whole choice for one model: SAM 2's config and weights, and the refiner checkpoint as read."""

    sam2: SAM2Choice
    refiner: RefinerCheckpoint | None  # None: no refiner checkpoint (random refiner modules, or none)


def choose_weights(
    config: str = AUTO,
    device: torch.device | str = "cpu",
    sam2_checkpoint: str | Path | None = None,
    refiner_checkpoint: str | Path | None = None,
    *,
    fetch: bool = False,
    fetch_timeout_s: float = 3.0,
    endpoint: str | None = None,
) -> WeightsChoice:
    """``choose_sam2`` with the config a refiner checkpoint was trained on; the refiner file is read here, once
    (the builder loads it from the returned ``RefinerCheckpoint``). Raises ``CheckpointError`` for a bad file."""
    refiner = read_refiner_checkpoint(refiner_checkpoint) if refiner_checkpoint is not None else None
    sam2 = choose_sam2(
        config,
        device,
        sam2_checkpoint,
        refiner_config=refiner.config.sam2_config if refiner is not None else None,
        fetch=fetch,
        fetch_timeout_s=fetch_timeout_s,
        endpoint=endpoint,
    )
    return WeightsChoice(sam2, refiner)


@dataclass(frozen=True)
class WeightsInfo:
    """Where a built model's weights came from and why; the service shows this in /v1/model."""

    config: str
    config_reason: str  # why this SAM 2 config (SAM2Choice.config_reason)
    sam2_source: str  # where SAM 2's weights come from, or why they are random, in words (SAM2Choice.weights)
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


__all__ = ["AUTO", "SAM2Choice", "WeightsChoice", "WeightsInfo", "choose_sam2", "choose_weights"]
