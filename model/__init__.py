"""SAM2Refiner: fine-grained interactive segmentation on a frozen SAM 2 (see model/README.md).

Importing this package changes nothing outside it: sam2 gets its hooks when a model is built
(``sam2_compat.hooks``), and torch's TF32 flags only from ``runtime.enable_tf32``.
"""

from .build import build_sam2refiner, load_model
from .config import RefinerConfig, RefinerSwitches
from .errors import CheckpointError, ImageNotSetError, InvalidInputError
from .features import ImageFeatures
from .image_predictor import SAM2RefinerImagePredictor
from .runtime import resolve_device
from .sam2_compat.onnx_decoder import INPUTS as DECODER_INPUTS
from .sam2_compat.onnx_decoder import OUTPUTS as DECODER_OUTPUTS
from .sam2_compat.onnx_decoder import cached_decoder_onnx
from .sam2refiner import MaskPrediction, SAM2Refiner
from .weights import WeightsInfo

__all__ = [
    "DECODER_INPUTS",
    "DECODER_OUTPUTS",
    "cached_decoder_onnx",
    "build_sam2refiner",
    "load_model",
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
