"""Builds Meta's SAM 2 (the frozen base) from the sam2 package's own config files.

The config is read with OmegaConf from the installed package and instantiated with ``hydra.utils.instantiate``
rather than through Hydra's global ``compose``, so building several models (or another Hydra app in the same
process) never clashes with global state. Checkpoints are the official ``{"model": state_dict}`` files, loaded
strictly with ``weights_only=True``.
"""

from __future__ import annotations

import inspect
import logging
import pickle
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from .config import SAM2_CONFIGS, check_image_size
from .errors import CheckpointError
from .fill_holes import install as install_hole_filling

# sam2's hole filling needs its compiled extension, which the wheel lacks; hook our connected components in
# (model/fill_holes.py) so every sam2 predictor in this process post-processes as sam2-with-extension does.
install_hole_filling()

log = logging.getLogger(__name__)

# The same post-processing options sam2's own builders switch on (build_sam2 / build_sam2_video_predictor),
# so that our model behaves like the reference predictors. The video-only ones only matter to memory encoding.
_IMAGE_OVERRIDES = {
    "sam_mask_decoder_extra_args": {
        "dynamic_multimask_via_stability": True,
        "dynamic_multimask_stability_delta": 0.05,
        "dynamic_multimask_stability_thresh": 0.98,
    }
}
_VIDEO_OVERRIDES = {"binarize_mask_from_pts_for_mem_enc": True}


def sam2_model_config(config: str, image_size: int, video: bool = False):
    """The OmegaConf ``model`` node of a SAM 2.1 config, resized to ``image_size``."""
    if config not in SAM2_CONFIGS:
        raise ValueError(f"config: unknown SAM 2 config {config!r}; choose one of {sorted(SAM2_CONFIGS)}")
    check_image_size(image_size)
    text = resources.files("sam2").joinpath(SAM2_CONFIGS[config]).read_text()
    cfg = OmegaConf.create(text)
    model = cfg.model
    model.image_size = image_size
    # RoPE tables in memory attention are sized for the stride-16 map.
    side = image_size // 16
    for attn in ("self_attention", "cross_attention"):
        model.memory_attention.layer[attn].feat_sizes = [side, side]
    overrides = dict(_IMAGE_OVERRIDES, **(_VIDEO_OVERRIDES if video else {}))
    model.merge_with(OmegaConf.create(overrides))
    OmegaConf.resolve(cfg)
    return model


def read_official_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of an official SAM 2 checkpoint (memory-mapped: reading shapes costs nothing).

    Raises ``CheckpointError`` for a missing, unreadable or differently laid out file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"SAM 2 checkpoint not found: {path} (see weights/README.md for where to get it)")
    try:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # a legacy (non-zip) file cannot be mapped; anything else is a bad file
                raise
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch's own text here suggests weights_only=False: not for a served file
        raise CheckpointError(
            f"SAM 2 checkpoint {path} could not be read safely: it is corrupt, truncated or not a "
            f"plain-tensor PyTorch file (torch.load with weights_only=True refused it)"
        ) from e
    except Exception as e:  # a truncated zip, an I/O error
        raise CheckpointError(f"SAM 2 checkpoint {path} could not be read safely: {e}") from e
    if not isinstance(blob, dict) or not isinstance(blob.get("model"), dict):
        raise CheckpointError(
            f"SAM 2 checkpoint {path} is not in the official format (a dict with a 'model' state dict)"
        )
    return blob["model"]


_PATCH_EMBED = "image_encoder.trunk.patch_embed.proj.weight"
_BLOCKS = "image_encoder.trunk.blocks."


@lru_cache
def config_signature(config: str) -> tuple[int, int]:
    """(Hiera embed_dim, number of Hiera blocks) of a SAM 2.1 config, from its yaml and Hiera's defaults."""
    from sam2.modeling.backbones.hieradet import Hiera

    trunk = OmegaConf.create(
        resources.files("sam2").joinpath(SAM2_CONFIGS[config]).read_text()
    ).model.image_encoder.trunk
    defaults = inspect.signature(Hiera).parameters
    embed_dim = trunk.get("embed_dim", defaults["embed_dim"].default)
    stages = trunk.get("stages", defaults["stages"].default)
    return int(embed_dim), int(sum(stages))


def config_of_state_dict(state: dict, path: str | Path = "the checkpoint") -> str:
    """Which SAM 2.1 config a state dict was made for, from its tensor shapes. Raises ``CheckpointError``."""
    if _PATCH_EMBED not in state:
        raise CheckpointError(f"SAM 2 checkpoint {path} has no {_PATCH_EMBED}: not a SAM 2 model")
    found = (
        int(state[_PATCH_EMBED].shape[0]),
        len({k[len(_BLOCKS) :].split(".")[0] for k in state if k.startswith(_BLOCKS)}),
    )
    for config in SAM2_CONFIGS:
        if config_signature(config) == found:
            return config
    raise CheckpointError(
        f"SAM 2 checkpoint {path} has a Hiera encoder of width {found[0]} with {found[1]} blocks, "
        f"which is none of {sorted(SAM2_CONFIGS)}"
    )


def load_official_checkpoint(module: torch.nn.Module, path: str | Path) -> str:
    """Loads an official SAM 2 checkpoint strictly; returns its sha256. Raises ``CheckpointError``."""
    from .checkpoint import file_sha256  # local import: checkpoint imports config only

    state = read_official_state_dict(path)
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        for name, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{len(keys)} {name} keys: {', '.join(keys[:5])}{more}")
        raise CheckpointError(f"SAM 2 checkpoint {path} does not fit this config: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)
    return file_sha256(path)


def build_sam2_base(
    config: str = "hiera_l",
    image_size: int = 1024,
    checkpoint: str | Path | None = None,
    device: str | torch.device = "cpu",
    video: bool = False,
    seed: int = 0,
):
    """A frozen ``SAM2Base`` in eval mode. Without a checkpoint its weights are random, seeded by ``seed``.

    Returns ``(model, sha256_or_None)``.
    """
    cfg = sam2_model_config(config, image_size, video=video)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = instantiate(cfg, _recursive_=True)
    sha = load_official_checkpoint(model, checkpoint) if checkpoint is not None else None
    model = model.to(device).eval()
    model.requires_grad_(False)
    return model, sha
