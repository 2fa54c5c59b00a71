"""Which weights a model is built with, and reading them; the choice is made here, once per model.

choice.py              the SAM 2 config and weights (checkpoint, official file from the Hub, or random) and why;
                       ``WeightsInfo``: what a built model was loaded with, for /v1/model
official.py            the official SAM 2.1 files: fetched from the Hugging Face Hub, read safely, loaded strictly
refiner_checkpoint.py  refiner checkpoints (safetensors + JSON header): written, read once, loaded strictly
digest.py              a file's sha256
"""

from .choice import SAM2Choice, WeightsChoice, WeightsInfo, choose_sam2, choose_weights
from .digest import file_sha256
from .official import FetchError, fetch_official_checkpoint
from .refiner_checkpoint import RefinerCheckpoint, read_refiner_checkpoint, save_refiner_checkpoint

__all__ = [
    "FetchError",
    "RefinerCheckpoint",
    "SAM2Choice",
    "WeightsChoice",
    "WeightsInfo",
    "choose_sam2",
    "choose_weights",
    "fetch_official_checkpoint",
    "file_sha256",
    "read_refiner_checkpoint",
    "save_refiner_checkpoint",
]
