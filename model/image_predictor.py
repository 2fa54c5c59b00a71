"""An image predictor with the call shape of sam2's ``SAM2ImagePredictor``, plus ``refine=``.

    predictor = SAM2RefinerImagePredictor(build_sam2refiner("hiera_l", sam2_checkpoint=..., refiner_checkpoint=...))
    predictor.set_image(image)                    # encoder (with LA's five images) runs once here
    masks, scores, low_res = predictor.predict(point_coords=[[x, y]], point_labels=[1])
    masks, scores, low_res = predictor.predict(box=[[x0, y0, x1, y1], [...]], multimask_output=False)  # N objects

Besides the stateful ``set_image``/``predict`` pair there is a stateless pair, ``encode`` and
``predict_on_features``, for callers (the service) that cache features themselves; ``start_encoding`` encodes
an image in steps (SAM 2's global pass, then LA's quadrants), so SAM 2's masks can come before the refined ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .config import RefinerSwitches
from .errors import ImageNotSetError, InvalidInputError
from .features import ImageFeatures
from .prompts import as_finite_array, check_boxes, check_object_prompts, check_points, prompt_tokens
from .runtime import inference_context
from .sam2refiner import SAM2Refiner
from .transforms import prepare_image


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

    # ------------------------------------------------------------------ images
    def encode(self, images: list) -> ImageFeatures:
        """Encoder outputs of a list of images (numpy HWC uint8 RGB or PIL); no predictor state changes."""
        if not isinstance(images, (list, tuple)) or not images:
            raise InvalidInputError("image_list", "expected a non-empty list of images")
        inputs, originals, orig_hw = self._prepare(images)
        with inference_context(self.model.device):
            return self.model.encode_image(inputs, orig_hw, originals=originals)

    def start_encoding(self, image) -> StagedEncoding:
        """Runs SAM 2's global encoder pass on one image; LA's quadrants are left to ``StagedEncoding.step``."""
        inputs, originals, orig_hw = self._prepare([image])
        with inference_context(self.model.device):
            bb = self.model.encode_backbone(inputs, originals, quadrants=False)
            staged = StagedEncoding(self.model, bb, orig_hw)
            staged.sam2_features = self.model.finish_features(bb, orig_hw, refiner_parts=False)
            if self.model.localization_augment is not None:
                quads = self.model.quadrant_inputs(inputs, originals)
                staged.pending = list(quads.split(self.model.encoder_batch() or quads.shape[0]))
        return staged

    def _prepare(self, images: list):
        size = self.model.image_size
        prepared = [
            prepare_image(img, size, self.device, "image" if len(images) == 1 else f"image_list[{i}]")
            for i, img in enumerate(images)
        ]
        return torch.stack([p[0] for p in prepared]), [p[1] for p in prepared], [p[2] for p in prepared]

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
        check_object_prompts(
            point_coords,
            point_labels,
            box,
            mask_input,
            none_arg="prompts",
            names=("point_coords", "point_labels", "box", "mask_input"),
        )
        coords = labels = boxes = masks = None
        counts = {}
        if point_coords is not None:
            coords, labels = check_points(
                point_coords,
                point_labels,
                orig_hw,
                normalized=not normalize_coords,
                padding=True,
                points_arg="point_coords",
                labels_arg="point_labels",
            )
            counts["point_coords"] = coords.shape[0]
        if box is not None:
            boxes = check_boxes(box)  # as SAM 2: a box may reach outside the image
            counts["box"] = boxes.shape[0]
        if mask_input is not None:
            masks = as_finite_array(mask_input, "mask_input", dtype=np.float32)
            if masks.ndim == 3:
                masks = masks[None]
            m = self.model.mask_input_size
            if masks.ndim != 4 or masks.shape[1:] != (1, m, m):
                raise InvalidInputError(
                    "mask_input",
                    f"expected shape (1, {m}, {m}) or (N, 1, {m}, {m}) low-res logits, got {np.shape(mask_input)}",
                )
            counts["mask_input"] = masks.shape[0]
        first = next(iter(counts.values()))
        for name, count in counts.items():
            if count != first:
                raise InvalidInputError(name, f"prompts disagree on the number of objects: {counts}")
        pt_coords, pt_labels = prompt_tokens(
            coords, labels, boxes, orig_hw, self.model.image_size, self.device, normalized=not normalize_coords
        )
        mask_t = torch.as_tensor(masks, dtype=torch.float, device=self.device) if masks is not None else None
        return pt_coords, pt_labels, mask_t

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
        timings: dict | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Masks for one image's features as torch tensors: masks [N, M, H, W], scores [N, M], low-res [N, M, m, m].
        ``timings`` gets the decoder's and the refiner's seconds (``SAM2Refiner.predict_masks``)."""
        if features.batch_size != 1:
            raise InvalidInputError(
                "features", f"expected the features of one image, got a batch of {features.batch_size}"
            )
        switches = RefinerSwitches.resolve(refine, self.model.config.modules)
        orig_hw = features.orig_hw[0]
        coords, labels, mask_in = self._prep_prompts(
            point_coords, point_labels, box, mask_input, normalize_coords, orig_hw
        )
        with inference_context(self.model.device):
            pred = self.model.predict_masks(features, coords, labels, mask_in, multimask_output, switches, timings)
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
        one = lambda prompt: None if prompt is None else [prompt]  # noqa: E731  (the image's prompts, as a batch)
        outputs = self.predict_batch(
            one(point_coords),
            one(point_labels),
            one(box),
            one(mask_input),
            multimask_output,
            return_logits,
            normalize_coords,
            refine,
        )
        return tuple(output[0] for output in outputs)

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
            features = self._features if self._features.batch_size == 1 else self._features.select(i)
            out = self._to_numpy(
                self.predict_on_features(
                    features,
                    pick(point_coords_batch, i),
                    pick(point_labels_batch, i),
                    pick(box_batch, i),
                    pick(mask_input_batch, i),
                    multimask_output,
                    return_logits,
                    normalize_coords,
                    refine,
                )
            )
            for acc, value in zip(results, out):
                acc.append(value)
        return results

    @staticmethod
    def _to_numpy(outputs):
        # As SAM2ImagePredictor: float32 arrays (masks as 0/1), the object axis squeezed away for one object.
        return tuple(t.squeeze(0).float().cpu().numpy() for t in outputs)


@dataclass
class StagedEncoding:
    """An image encoded in steps, each short enough to be one device-worker job among others: SAM 2's global pass
    (done by ``SAM2RefinerImagePredictor.start_encoding``), then LA's quadrants (one encoder pass per ``step`` on
    CPUs, all four in one on GPUs). ``sam2_features`` are usable at once (SAM 2's path, refiner off); ``features``
    once ``done``: the same numbers as ``encode``'s on CPUs (where both encode image by image)."""

    model: SAM2Refiner
    backbone: object  # BackboneFeatures of the global pass
    orig_hw: list
    pending: list = field(default_factory=list)  # quadrant input batches still to encode
    local: list = field(default_factory=list)  # their stride-16 features, in order
    sam2_features: ImageFeatures | None = None  # SAM 2's part: no LA, no MR image term

    @property
    def done(self) -> bool:
        return not self.pending

    def step(self) -> None:
        """Encodes the next batch of quadrants (one worker job)."""
        with inference_context(self.model.device):
            self.local.append(self.model.encode_quadrants(self.pending.pop(0)))

    def features(self) -> ImageFeatures:
        """The complete features (LA and MR's image term), once every step ran."""
        bb = self.model.with_quadrants(self.backbone, torch.cat(self.local)) if self.local else self.backbone
        with inference_context(self.model.device):
            return self.model.finish_features(bb, self.orig_hw)
