"""The paper's metrics, computed the way the public toolkits compute them (numpy + OpenCV, no extra deps).

Images (sec. 4.1, after HQ-SAM):
    mask_iou        follows SysCV/sam-hq ``utils/misc.py: mask_iou`` (|P & G| / |P | G| of binary masks)
    boundary_iou    follows SysCV/sam-hq ``utils/misc.py: boundary_iou``, which takes ``mask_to_boundary`` from
                    bowenc0221/boundary-iou-api: the band is the mask minus its erosion (3x3 kernel,
                    d = max(1, round(0.02 * diagonal)) iterations, one pixel of background padding first).
Video (semi-supervised, after DAVIS 2017 / LVOS):
    region_j        follows davisvideochallenge/davis2017-evaluation ``metrics.py: db_eval_iou``
    boundary_f      follows the same file's ``f_measure`` / ``_seg2bmap`` (one-pixel contours matched within
                    a disk of radius ceil(0.008 * diagonal))

Ground truth: image GT PNGs are read as sam-hq reads them (``model.training.datasets.read_binary_mask``: channel 0,
foreground above 128, sam-hq fb181f8 ``train/utils/misc.py`` lines 489 and 530); video GT is LVOS's / DAVIS's
palette label maps, compared by object id as their toolkits do (no threshold).

Edge cases: an empty prediction against an empty ground truth scores 1 everywhere (DAVIS's convention for J
and F; sam-hq divides 0 by 0 there, which never happens on its test sets whose masks are never empty).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _binary(mask: np.ndarray, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D mask [H, W], got shape {mask.shape}")
    return mask.astype(bool)


def _same_shape(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _binary(pred, "pred"), _binary(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in size: compare at the original resolution")
    return pred, gt


def _ratio(intersection: int, union: int) -> float:
    return 1.0 if union == 0 else float(intersection) / float(union)


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two binary masks [H, W] (sam-hq ``mask_iou``)."""
    pred, gt = _same_shape(pred, gt)
    return _ratio(int(np.count_nonzero(pred & gt)), int(np.count_nonzero(pred | gt)))


def boundary_dilation(height: int, width: int, dilation_ratio: float = 0.02) -> int:
    """Erosion iterations of the boundary band: max(1, round(ratio * diagonal)) (boundary-iou-api)."""
    return max(1, int(round(dilation_ratio * math.sqrt(height**2 + width**2))))


def mask_to_boundary(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    """The inner boundary band of a mask (bool [H, W]); pixels on the image border count as boundary."""
    mask = _binary(mask, "mask").astype(np.uint8)
    h, w = mask.shape
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=boundary_dilation(h, w, dilation_ratio))
    return (mask - eroded[1 : h + 1, 1 : w + 1]).astype(bool)


def boundary_iou(pred: np.ndarray, gt: np.ndarray, dilation_ratio: float = 0.02) -> float:
    """Boundary IoU (Cheng et al. 2021) as sam-hq computes it: IoU of the two boundary bands."""
    pred, gt = _same_shape(pred, gt)
    pb, gb = mask_to_boundary(pred, dilation_ratio), mask_to_boundary(gt, dilation_ratio)
    return _ratio(int(np.count_nonzero(pb & gb)), int(np.count_nonzero(pb | gb)))


# ------------------------------------------------------------------------------------------------ video


def region_j(pred: np.ndarray, gt: np.ndarray) -> float:
    """DAVIS region similarity J of one frame: IoU, 1 when both masks are empty."""
    return mask_iou(pred, gt)


def one_pixel_contour(mask: np.ndarray) -> np.ndarray:
    """DAVIS's ``_seg2bmap`` at the mask's own size: a pixel is on the contour when it differs from its right,
    lower or lower-right neighbour (the contour sits half a pixel towards the origin)."""
    seg = _binary(mask, "mask")
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    contour = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    contour[-1, :] = seg[-1, :] ^ east[-1, :]
    contour[:, -1] = seg[:, -1] ^ south[:, -1]
    contour[-1, -1] = False
    return contour


def _disk(radius: int) -> np.ndarray:
    """skimage.morphology.disk: the pixels within ``radius`` of the centre (Euclidean)."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def boundary_tolerance(height: int, width: int, bound_th: float = 0.008) -> int:
    """Match radius in pixels: ``bound_th`` itself when >= 1, else ceil(bound_th * diagonal) (DAVIS)."""
    return int(bound_th) if bound_th >= 1 else int(math.ceil(bound_th * math.hypot(height, width)))


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS contour accuracy F of one frame: 2PR/(P+R) of contour pixels matched within the tolerance."""
    pred, gt = _same_shape(pred, gt)
    pc, gc = one_pixel_contour(pred), one_pixel_contour(gt)
    disk = _disk(boundary_tolerance(*gt.shape, bound_th))
    pred_dil = cv2.dilate(pc.astype(np.uint8), disk).astype(bool)
    gt_dil = cv2.dilate(gc.astype(np.uint8), disk).astype(bool)
    n_pred, n_gt = int(pc.sum()), int(gc.sum())
    if n_pred == 0 and n_gt == 0:
        precision = recall = 1.0
    elif n_pred == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = np.count_nonzero(pc & gt_dil) / n_pred
        recall = np.count_nonzero(gc & pred_dil) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


__all__ = [
    "boundary_dilation",
    "boundary_f",
    "boundary_iou",
    "boundary_tolerance",
    "mask_iou",
    "mask_to_boundary",
    "one_pixel_contour",
    "region_j",
]
