"""An image predictor with the call shape of sam2's ``SAM2ImagePredictor``, plus ``refine=``.

    predictor = SAM2RefinerImagePredictor(build_sam2refiner("hiera_l", sam2_checkpoint=..., refiner_checkpoint=...))
    predictor.set_image(image)                    # encoder (with LA's five images) runs once here
    masks, scores, low_res = predictor.predict(point_coords=[[x, y]], point_labels=[1])
    masks, scores, low_res = predictor.predict(box=[[x0, y0, x1, y1], [...]], multimask_output=False)  # N objects

Besides the stateful ``set_image``/``predict`` pair there is a stateless pair, ``encode`` and
``predict_on_features``, for callers (the service) that cache features themselves.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from .config import RefinerSwitches
from .errors import ImageNotSetError, InvalidInputError
from .features import ImageFeatures
from .sam2refiner import SAM2Refiner
from .transforms import prepare_image

ALLOWED_LABELS = (-1, 0, 1)  # negative, positive; -1 pads point lists of unequal length


def _as_array(value, argument: str, dtype=np.float64) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(argument, f"not numeric: {e}") from e
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(argument, "contains NaN or infinite values")
    return arr


class SAM2RefinerImagePredictor:
    def __init__(self, model: SAM2Refiner, mask_threshold: float = 0.0):
        self.model = model
        self.mask_threshold = mask_threshold
        self.reset_predictor()

    # ------------------------------------------------------------------ state
    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_predictor(self) -> None:
        self._features: ImageFeatures | None = None
        self._is_batch = False

    @property
    def features(self) -> ImageFeatures | None:
        return self._features

    def set_features(self, features: ImageFeatures) -> None:
        self._features, self._is_batch = features, features.batch_size > 1

    def _autocast(self):
        # As SAM 2 runs on GPUs: bf16 autocast (TF32 matmuls are switched on by the factory's caller).
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    # ------------------------------------------------------------------ images
    def encode(self, images: list) -> ImageFeatures:
        """Encoder outputs of a list of images (numpy HWC uint8 RGB or PIL); no predictor state changes."""
        if not isinstance(images, (list, tuple)) or not images:
            raise InvalidInputError("image_list", "expected a non-empty list of images")
        size = self.model.image_size
        prepared = [prepare_image(img, size, self.device, "image" if len(images) == 1 else f"image_list[{i}]") for i, img in enumerate(images)]
        inputs = torch.stack([p[0] for p in prepared])
        with torch.inference_mode(), self._autocast():
            return self.model.encode_image(inputs, [p[2] for p in prepared], originals=[p[1] for p in prepared])

    def set_image(self, image) -> None:
        self.reset_predictor()
        self._features = self.encode([image])

    def set_image_batch(self, image_list: list) -> None:
        self.reset_predictor()
        self._features = self.encode(image_list)
        self._is_batch = True

    def get_image_embedding(self) -> torch.Tensor:
        if self._features is None:
            raise ImageNotSetError()
        return self._features.image_embed

    # ------------------------------------------------------------------ prompts
    def _prep_prompts(self, point_coords, point_labels, box, mask_input, normalize_coords, orig_hw):
        """Validated prompts as tensors in encoder-input pixels: (coords [N,P,2], labels [N,P], mask [N,1,m,m])."""
        h, w = orig_hw
        size = self.model.image_size
        limit = np.array([w, h]) if normalize_coords else np.array([1.0, 1.0])
        coords = labels = boxes = masks = None
        n_points = n_boxes = n_masks = None

        if point_coords is None and point_labels is not None:
            raise InvalidInputError("point_coords", "point_labels were given without point_coords")
        if point_coords is not None:
            if point_labels is None:
                raise InvalidInputError("point_labels", "point_coords were given without point_labels")
            coords = _as_array(point_coords, "point_coords")
            if coords.ndim == 2:
                coords = coords[None]
            if coords.ndim != 3 or coords.shape[-1] != 2:
                raise InvalidInputError("point_coords", f"expected shape (P, 2) or (N, P, 2), got {np.shape(point_coords)}")
            if coords.shape[1] == 0 or coords.shape[0] == 0:
                raise InvalidInputError("point_coords", "is empty; give at least one point or leave it out")
            labels = _as_array(point_labels, "point_labels")
            if labels.ndim == 1:
                labels = labels[None]
            if labels.shape != coords.shape[:2]:
                raise InvalidInputError("point_labels", f"shape {np.shape(point_labels)} does not match point_coords {np.shape(point_coords)}")
            if np.any(labels != np.round(labels)):
                raise InvalidInputError("point_labels", "labels must be whole numbers")
            bad = sorted(set(np.unique(labels).astype(int).tolist()) - set(ALLOWED_LABELS))
            if bad:
                raise InvalidInputError("point_labels", f"labels {bad} are not supported; use 1 (positive), 0 (negative) or -1 (padding)")
            if np.all(labels == -1):
                raise InvalidInputError("point_labels", "every point is padding (-1)")
            if np.any((coords < 0) | (coords > limit)):
                raise InvalidInputError("point_coords", f"points outside the image ({w}x{h})" if normalize_coords else "normalised points outside [0, 1]")
            n_points = coords.shape[0]

        if box is not None:
            boxes = _as_array(box, "box")
            if boxes.ndim == 1:
                boxes = boxes[None]
            if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.shape[0] == 0:
                raise InvalidInputError("box", f"expected shape (4,) or (N, 4) as x0, y0, x1, y1; got {np.shape(box)}")
            if np.any(boxes[:, 2] < boxes[:, 0]):
                raise InvalidInputError("box", "x1 < x0: boxes are x0, y0, x1, y1 with x1 >= x0")
            if np.any(boxes[:, 3] < boxes[:, 1]):
                raise InvalidInputError("box", "y1 < y0: boxes are x0, y0, x1, y1 with y1 >= y0")
            n_boxes = boxes.shape[0]

        if mask_input is not None:
            masks = _as_array(mask_input, "mask_input", dtype=np.float32)
            if masks.ndim == 3:
                masks = masks[None]
            m = self.model.mask_input_size
            if masks.ndim != 4 or masks.shape[1:] != (1, m, m):
                raise InvalidInputError("mask_input", f"expected shape (1, {m}, {m}) or (N, 1, {m}, {m}) low-res logits, got {np.shape(mask_input)}")
            n_masks = masks.shape[0]

        counts = {k: v for k, v in (("point_coords", n_points), ("box", n_boxes), ("mask_input", n_masks)) if v is not None}
        if not counts:
            raise InvalidInputError("prompts", "give at least one of point_coords/point_labels, box or mask_input")
        first = next(iter(counts.values()))
        for name, count in counts.items():
            if count != first:
                raise InvalidInputError(name, f"prompts disagree on the number of objects: {counts}")

        dev = self.device

        def to_input_frame(xy: np.ndarray) -> torch.Tensor:
            # Same operations, in the same order and precision, as SAM2Transforms.transform_coords.
            t = torch.as_tensor(xy, dtype=torch.float, device=dev)
            if normalize_coords:
                t = t.clone()
                t[..., 0] = t[..., 0] / w
                t[..., 1] = t[..., 1] / h
            return t * size

        pt_coords = to_input_frame(coords) if coords is not None else None
        pt_labels = torch.as_tensor(labels, dtype=torch.int, device=dev) if labels is not None else None
        if boxes is not None:
            box_coords = to_input_frame(boxes.reshape(-1, 2, 2))
            box_labels = torch.tensor([[2, 3]], dtype=torch.int, device=dev).repeat(box_coords.shape[0], 1)
            pt_coords = box_coords if pt_coords is None else torch.cat([box_coords, pt_coords], dim=1)
            pt_labels = box_labels if pt_labels is None else torch.cat([box_labels, pt_labels], dim=1)
        mask_t = torch.as_tensor(masks, dtype=torch.float, device=dev) if masks is not None else None
        return pt_coords, pt_labels, mask_t

    def _switches(self, refine) -> RefinerSwitches:
        if isinstance(refine, RefinerSwitches):
            return refine
        if isinstance(refine, bool):
            return self.model.config.modules if refine else RefinerSwitches.off()
        raise InvalidInputError("refine", f"expected True, False or RefinerSwitches, got {refine!r}")

    # ------------------------------------------------------------------ prediction
    def predict_on_features(
        self,
        features: ImageFeatures,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
        refine: bool | RefinerSwitches = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masks for one image's features as torch tensors: masks [N, M, H, W], scores [N, M], low-res [N, M, m, m]."""
        if features.batch_size != 1:
            raise InvalidInputError("features", f"expected the features of one image, got a batch of {features.batch_size}")
        switches = self._switches(refine)
        orig_hw = features.orig_hw[0]
        coords, labels, mask_in = self._prep_prompts(point_coords, point_labels, box, mask_input, normalize_coords, orig_hw)
        with torch.inference_mode(), self._autocast():
            pred = self.model.predict_masks(features, coords, labels, mask_in, multimask_output, switches)
            masks = self.model.upsample_logits(pred.logits, orig_hw)
        low_res = torch.clamp(pred.low_res_logits, -32.0, 32.0)
        if not return_logits:
            masks = masks > self.mask_threshold
        return masks, pred.iou, low_res

    def predict(
        self,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
        refine: bool | RefinerSwitches = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As ``SAM2ImagePredictor.predict``: masks [M, H, W] for one object, [N, M, H, W] for N objects."""
        if self._features is None:
            raise ImageNotSetError()
        if self._is_batch:
            raise InvalidInputError("image", "a batch of images is set: use predict_batch(...)")
        return self._to_numpy(
            self.predict_on_features(
                self._features, point_coords, point_labels, box, mask_input,
                multimask_output, return_logits, normalize_coords, refine,
            )
        )

    def predict_batch(
        self,
        point_coords_batch=None,
        point_labels_batch=None,
        box_batch=None,
        mask_input_batch=None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
        refine: bool | RefinerSwitches = True,
    ):
        """As ``SAM2ImagePredictor.predict_batch``: lists of (masks, scores, low-res logits), one per image."""
        if self._features is None:
            raise ImageNotSetError()
        results = ([], [], [])
        pick = lambda seq, i: None if seq is None else seq[i]  # noqa: E731
        for i in range(self._features.batch_size):
            out = self._to_numpy(
                self.predict_on_features(
                    self._features.select(i), pick(point_coords_batch, i), pick(point_labels_batch, i),
                    pick(box_batch, i), pick(mask_input_batch, i), multimask_output, return_logits,
                    normalize_coords, refine,
                )
            )
            for acc, value in zip(results, out):
                acc.append(value)
        return results

    @staticmethod
    def _to_numpy(outputs):
        # As SAM2ImagePredictor: float32 arrays (masks as 0/1), the object axis squeezed away for one object.
        return tuple(t.squeeze(0).float().cpu().numpy() for t in outputs)
