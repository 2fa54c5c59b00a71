"""Image and prompt preprocessing with torch ops only (the product must not need torchvision).

Numerically the same as sam2's ``SAM2Transforms`` (ToTensor, antialiased bilinear Resize, Normalize), which
the equivalence tests check against sam2's own predictor.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import InvalidInputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_to_tensor(image, argument: str = "image") -> torch.Tensor:
    """numpy HWC uint8 RGB or a PIL image -> [3, H, W] float32 in [0, 1]."""
    if isinstance(image, Image.Image):
        image = np.array(image.convert("RGB"))  # a writable copy
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(
            argument, f"expected a numpy array (HxWx3 uint8) or a PIL image, got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise InvalidInputError(argument, f"expected dtype uint8 (pixel values 0-255), got {image.dtype}")
    if image.ndim != 3:
        raise InvalidInputError(argument, f"expected shape HxWx3, got {tuple(image.shape)}")
    if image.shape[2] != 3:
        raise InvalidInputError(argument, f"expected 3 channels (RGB), got {image.shape[2]}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InvalidInputError(argument, f"image is too small: {image.shape[1]}x{image.shape[0]} pixels")
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return (x - mean) / std


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """[..., 3, H, W] -> [..., 3, size, size], antialiased bilinear (torchvision's Resize on tensors)."""
    squeeze = x.dim() == 3
    y = F.interpolate(
        x[None] if squeeze else x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return y[0] if squeeze else y


def prepare_image(image, size: int, device, argument: str = "image"):
    """Returns (encoder input [3, size, size], the normalised full-resolution image [3, H, W], (H, W))."""
    x = image_to_tensor(image, argument).to(device)
    full = normalize(x)
    return normalize(resize_square(x, size)), full, (x.shape[1], x.shape[2])


# A binary mask prompt becomes low-res logits of +-MASK_PROMPT_LOGIT (SAM 2 saturates its own logits near
# there), after an antialiased resize to the decoder's mask-input size.
MASK_PROMPT_LOGIT = 10.0


def mask_prompt_logits(mask: np.ndarray, size: int, device) -> torch.Tensor:
    """bool [H, W] -> [1, size, size] mask-input logits of +-MASK_PROMPT_LOGIT."""
    x = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None].to(device)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return ((x[0] * 2.0 - 1.0) * MASK_PROMPT_LOGIT).clamp(-MASK_PROMPT_LOGIT, MASK_PROMPT_LOGIT)
