"""SAM 2's hole filling without its compiled extension: connected components with OpenCV, hooked into sam2.

sam2's video predictor (``fill_hole_area=8`` in ``build_sam2_video_predictor``) fills the small background holes
of every predicted low-res mask with ``sam2.utils.misc.fill_holes_in_mask_scores``, which labels connected
components with ``sam2._C.get_connected_componnets``: a CUDA kernel built only when sam2 is installed with its
extension. The rf-sam-2 wheel ships no ``_C``; there ``fill_holes_in_mask_scores`` catches the ImportError, warns
and returns the masks unfilled (and the CUDA kernel, where it exists, refuses CPU tensors the same way). So
without this module sam2's masks, and ours, equal sam2-with-extension only where it has no holes to fill.

``install()`` (called by the SAM 2 builder through ``hooks.install``, never at import time) points
``sam2.utils.misc.get_connected_components`` (which both ``fill_holes_in_mask_scores`` and
``SAM2Transforms.postprocess_masks`` look up at call time) at ``connected_components`` below: the same contract as
the kernel (8-connectivity, [N, 1, H, W] in, int32 labels and per-pixel component areas out, on the input's
device), computed with ``cv2.connectedComponentsWithStats`` on the CPU, so sam2's own post-processing runs
unchanged on CPUs and GPUs. Label numbers may differ from the kernel's; sam2 only reads ``labels > 0`` and the
areas, which are the same.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import torch

# sam2's video builder: "fill small holes in the low-res masks up to `fill_hole_area`"
SAM2_VIDEO_FILL_HOLE_AREA = 8


def connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """8-connected components of binary masks.

    mask [N, 1, H, W] (nonzero = foreground) -> (labels, areas), both int32 [N, 1, H, W] on ``mask``'s device:
    labels > 0 number each foreground pixel's component (0 on background), areas hold that component's pixel
    count (0 on background).
    """
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask: expected [N, 1, H, W], got {tuple(mask.shape)}")
    binary = (mask != 0).to(torch.uint8).cpu().numpy()
    labels = np.zeros(binary.shape, np.int32)
    areas = np.zeros(binary.shape, np.int32)
    for i in range(binary.shape[0]):
        count, lab, stats, _ = cv2.connectedComponentsWithStats(binary[i, 0], connectivity=8, ltype=cv2.CV_32S)
        area = stats[:, cv2.CC_STAT_AREA].astype(np.int32)
        area[0] = 0  # OpenCV's label 0 is the background
        labels[i, 0] = lab
        areas[i, 0] = area[lab]
    return torch.from_numpy(labels).to(mask.device), torch.from_numpy(areas).to(mask.device)


def _extension_available() -> bool:
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


_install_lock = threading.Lock()


def installed() -> bool:
    """Whether sam2's ``get_connected_components`` is ours (``install``)."""
    import sam2.utils.misc as misc

    return getattr(misc.get_connected_components, "_sam2refiner_hook", False)


def install() -> bool:
    """Makes sam2's ``get_connected_components`` work without ``sam2._C`` (idempotent). When the extension is
    installed it is used for CUDA tensors, as in sam2, and this implementation for the others (the kernel refuses
    them). Returns whether the hook is in place."""
    import sam2.utils.misc as misc

    with _install_lock:
        if not installed():
            original = misc.get_connected_components
            misc.get_connected_components = _hook(original, original if _extension_available() else None)
    return True


def _hook(original, extension):
    """Our ``get_connected_components``: sam2's kernel (``extension``) for CUDA tensors where it exists."""

    def get_connected_components(mask):
        if extension is not None and mask.is_cuda:
            return extension(mask)
        return connected_components(mask)

    get_connected_components._sam2refiner_hook = True
    get_connected_components._sam2_original = original
    get_connected_components.__doc__ = connected_components.__doc__
    return get_connected_components


def fill_holes(mask_logits: torch.Tensor, max_area: int = SAM2_VIDEO_FILL_HOLE_AREA) -> torch.Tensor:
    """sam2's own ``fill_holes_in_mask_scores`` (holes of at most ``max_area`` pixels get the score 0.1), with the
    hook installed; ``max_area`` 0 returns the logits as they are, as sam2 skips it."""
    if max_area <= 0:
        return mask_logits
    from sam2.utils.misc import fill_holes_in_mask_scores

    install()
    return fill_holes_in_mask_scores(mask_logits, max_area)


__all__ = ["connected_components", "install", "installed", "fill_holes", "SAM2_VIDEO_FILL_HOLE_AREA"]
