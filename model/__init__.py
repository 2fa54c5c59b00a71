"""SAM2Refiner: fine-grained interactive segmentation on a frozen SAM 2 (see model/README.md)."""

from .build import WeightsInfo, build_sam2refiner, resolve_device
from .config import RefinerConfig, RefinerSwitches
from .errors import CheckpointError, ImageNotSetError, InvalidInputError
from .features import ImageFeatures
from .image_predictor import SAM2RefinerImagePredictor
from .sam2refiner import MaskPrediction, SAM2Refiner

__all__ = [
    "build_sam2refiner",
    "resolve_device",
    "WeightsInfo",
    "RefinerConfig",
    "RefinerSwitches",
    "CheckpointError",
    "ImageNotSetError",
    "InvalidInputError",
    "ImageFeatures",
    "SAM2RefinerImagePredictor",
    "MaskPrediction",
    "SAM2Refiner",
]
