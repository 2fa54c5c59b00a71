"""The only package that touches sam2's internals; nothing here patches sam2 when imported.

builder.py     SAM 2 from the sam2 package's own config files (OmegaConf + ``hydra.utils.instantiate``); a
               checkpoint's config from its tensor shapes. Building installs the hooks (``hooks.install``).
hooks.py       the process-wide hooks (installed explicitly, idempotently) and per-call forward hooks
progress.py    sam2's tqdm progress bars off (a process-wide hook)
fill_holes.py  sam2's hole filling without its compiled extension (OpenCV connected components)
decoder.py     SAM 2's prompt encoder + mask decoder run and observed for the refiner (``DecodedMasks``)
batched_tracking.py  sam2's tracking step for several objects of a frame at once (memory attention grouped)
private.py     keyword-only wrappers around every private sam2 method we call, and the signatures we rely on
"""

from sam2.modeling.sam2_base import NO_OBJ_SCORE  # sam2's logit for "object absent"

from .batched_tracking import ObjectMemory, attend_memories, gather_memory, memory_conditioned
from .builder import build_sam2_base, config_of_state_dict, sam2_model_config
from .decoder import DecodedMasks, capture_decoder, decode
from .fill_holes import SAM2_VIDEO_FILL_HOLE_AREA, fill_holes
from .hooks import install as install_hooks
from .private import encode_new_memory, encode_xy, prepare_backbone_features, track_step

__all__ = [
    "NO_OBJ_SCORE",
    "SAM2_VIDEO_FILL_HOLE_AREA",
    "DecodedMasks",
    "ObjectMemory",
    "attend_memories",
    "build_sam2_base",
    "capture_decoder",
    "config_of_state_dict",
    "decode",
    "encode_new_memory",
    "encode_xy",
    "fill_holes",
    "gather_memory",
    "install_hooks",
    "memory_conditioned",
    "prepare_backbone_features",
    "sam2_model_config",
    "track_step",
]
