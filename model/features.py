"""Per-image encoder outputs, computed once per image and reused by every prompt on it."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from .config import RefinerSwitches


@dataclass
class BackboneFeatures:
    """The frozen image encoder's outputs for a batch of B images (S = image_size, h = S/16).

    global_feat   [B, 256, h, h]      stride-16 feature of the whole image (before no_mem_embed)
    local_feats   [B, 4, 256, h, h]   the quadrants' stride-16 features, or None without Localization Augment
    high_res      [B, 32, 4h, 4h], [B, 64, 2h, 2h]   stride-4/8 features, already projected by the decoder
    image         [B, 3, S, S]        the normalised encoder input (Mask Refinement's low-level branch)
    vision_pos    [1, 256, 4h, 4h], [1, 256, 2h, 2h], [1, 256, h, h]   the levels' positional encodings (the same
                  for every image of a size; memory attention needs them), or None where not kept
    """

    global_feat: torch.Tensor
    local_feats: torch.Tensor | None
    high_res: list[torch.Tensor]
    image: torch.Tensor
    vision_pos: list[torch.Tensor] | None = None


@dataclass
class ImageFeatures:
    """What the mask decoder and the refiner need of B images; the unit the service caches.

    image_embed     [B, 256, h, h]   SAM 2's decoder input (global feature + no_mem_embed)
    refined_embed   [B, 256, h, h]   the same after Localization Augment, or None when LA is off
    high_res        [B, 32, 4h, 4h], [B, 64, 2h, 2h]
    image           [B, 3, S, S]     normalised encoder input
    orig_hw         one (height, width) per image
    mr_image_term   [B, 1, S, S]     Mask Refinement's per-image share of its full-resolution output
                                     (``MaskRefinement.image_term``), or None without MR
    """

    image_embed: torch.Tensor
    refined_embed: torch.Tensor | None
    high_res: list[torch.Tensor]
    image: torch.Tensor
    orig_hw: list[tuple[int, int]]
    mr_image_term: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.image_embed.shape[0]

    def switches_available(self):
        """The modules these features can feed: LA needs ``refined_embed``, MR its image term (features encoded
        stage by stage have neither until the quadrants are done)."""
        return RefinerSwitches(la=self.refined_embed is not None, pr=True, mr=self.mr_image_term is not None)

    def tensors(self) -> list[torch.Tensor]:
        out = [self.image_embed, self.image, *self.high_res]
        return out + [t for t in (self.refined_embed, self.mr_image_term) if t is not None]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())

    def select(self, index: int) -> ImageFeatures:
        """The features of one image of the batch, as a batch of one."""
        pick = lambda t: None if t is None else t[index : index + 1]  # noqa: E731
        return ImageFeatures(
            image_embed=pick(self.image_embed),
            refined_embed=pick(self.refined_embed),
            high_res=[pick(t) for t in self.high_res],
            image=pick(self.image),
            orig_hw=[self.orig_hw[index]],
            mr_image_term=pick(self.mr_image_term),
        )

    def to(self, device: torch.device | str) -> ImageFeatures:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(
            self,
            **{f.name: move(getattr(self, f.name)) for f in fields(self) if f.name not in ("high_res", "orig_hw")},
            high_res=[move(t) for t in self.high_res],
        )
