"""Builds Meta's SAM 2 (the frozen base) from the sam2 package's own config files.

The config is read with OmegaConf from the installed package and instantiated with ``hydra.utils.instantiate``
rather than through Hydra's global ``compose``, so building several models (or another Hydra app in the same
process) never clashes with global state. The builder installs the hooks sam2 needs here (``hooks.install``);
weights are loaded by the caller (``model/weights/official.py``).
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ..config import SAM2_CONFIGS, check_image_size
from ..errors import CheckpointError
from . import hooks

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


def _config_text(config: str) -> str:
    return resources.files("sam2").joinpath(SAM2_CONFIGS[config]).read_text()


def sam2_model_config(config: str, image_size: int, video: bool = False):
    """The OmegaConf ``model`` node of a SAM 2.1 config, resized to ``image_size``."""
    if config not in SAM2_CONFIGS:
        raise ValueError(f"config: unknown SAM 2 config {config!r}; choose one of {sorted(SAM2_CONFIGS)}")
    check_image_size(image_size)
    cfg = OmegaConf.create(_config_text(config))
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


_PATCH_EMBED = "image_encoder.trunk.patch_embed.proj.weight"
_BLOCKS = "image_encoder.trunk.blocks."


@lru_cache
def config_signature(config: str) -> tuple[int, int]:
    """(Hiera embed_dim, number of Hiera blocks) of a SAM 2.1 config, from its yaml and Hiera's defaults."""
    from sam2.modeling.backbones.hieradet import Hiera

    trunk = OmegaConf.create(_config_text(config)).model.image_encoder.trunk
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


def build_sam2_base(config: str = "hiera_l", image_size: int = 1024, video: bool = False, seed: int = 0):
    """A frozen ``SAM2Base`` on the CPU in eval mode, its weights random (seeded by ``seed``): load a checkpoint
    with ``weights.official.load_official_checkpoint``. ``video=True`` uses the options of sam2's video builder.
    Installs the hooks sam2 needs in this process (``hooks.install``, idempotent)."""
    hooks.install()
    cfg = sam2_model_config(config, image_size, video=video)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = instantiate(cfg, _recursive_=True)
    model.eval()
    model.requires_grad_(False)
    return model


__all__ = ["build_sam2_base", "config_of_state_dict", "config_signature", "sam2_model_config"]
