"""SAM2Refiner: a frozen SAM 2 composed with the three trained modules of the paper.

SAM 2 (``self.sam2``, a ``SAM2Base``) is used through its own modules and methods: the image encoder, the
prompt encoder, the mask decoder (``predict_masks``) and, for video, the memory modules. The refiner adds:

    image ─ encoder(image + 4 quadrants) ─ LocalizationAugment ─┐
                                                                 ├─ SAM 2 mask decoder ─ E, tokens, coarse masks
    prompts ─ SAM 2 prompt encoder ─────────────────────────────┘        │
                                         PromptRetargeting(E, tokens, prompt map) ─ E_r, coarse masks
                                         MaskRefinement(E_r, encoder features, image, coarse) ─ full-res logits

With every switch off the path is SAM 2's own, operation for operation. The choices the paper leaves open are
written down in ``docs/model.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .config import RefinerConfig, RefinerSwitches
from .features import BackboneFeatures, ImageFeatures
from .modules.localization_augment import LocalizationAugment, split_quadrants
from .modules.mask_refinement import MaskRefinement
from .modules.prompt_retargeting import PromptRetargeting, rasterize_prompt_map
from .runtime import StageTimer
from .sam2_compat.decoder import DecodedMasks, decode, mask_tokens, masks_from_embedding
from .transforms import mask_prompt_logits

# Official names of the trainable modules, as they appear in refiner checkpoints.
REFINER_MODULES = ("localization_augment", "prompt_retargeting", "mask_refinement")


@dataclass
class MaskPrediction:
    """Decoder + refiner outputs for N prompt sets with M candidate masks each (M = 3 multimask, else 1).

    logits          [N, M, R, R]   R = S with Mask Refinement on, else S/4 (SAM 2's low-res masks)
    low_res_logits  [N, M, S/4, S/4]  the coarse masks (SAM 2's, or Prompt Retargeting's), for the next mask prompt
    iou             [N, M]         SAM 2's predicted IoU of each candidate
    object_score_logits [N, 1]
    aux_logits      Mask Refinement's intermediate outputs ([N*M, 1, S/16|S/8|S/4, ...]), else []
    token_index     [N, M]         the decoder output token behind each candidate
    object_embed    [N*M, C, h, h] the embedding Mask Refinement starts from (PR's renewed one when PR is on)
    """

    logits: torch.Tensor
    low_res_logits: torch.Tensor
    iou: torch.Tensor
    object_score_logits: torch.Tensor
    aux_logits: list[torch.Tensor]
    token_index: torch.Tensor
    object_embed: torch.Tensor


class SAM2Refiner(nn.Module):
    def __init__(self, sam2: nn.Module, config: RefinerConfig):
        super().__init__()
        self.sam2 = sam2
        self.config = config
        self.sam2.requires_grad_(False)
        dim = sam2.hidden_dim
        modules = config.modules
        self.localization_augment = LocalizationAugment(dim) if modules.la else None
        self.prompt_retargeting = PromptRetargeting(dim) if modules.pr else None
        self.mask_refinement = MaskRefinement(dim, channels=config.mr_channels) if modules.mr else None

    # ------------------------------------------------------------------ bookkeeping
    @property
    def image_size(self) -> int:
        return self.sam2.image_size

    @property
    def mask_input_size(self) -> int:
        return self.image_size // 4

    @property
    def device(self) -> torch.device:
        return self.sam2.device

    @property
    def modules_available(self) -> RefinerSwitches:
        return self.config.modules

    def train(self, mode: bool = True):
        super().train(mode)
        self.sam2.eval()  # frozen: no dropout, no stochastic paths, ever
        return self

    def refiner_parameters(self):
        return [
            p for name in REFINER_MODULES if getattr(self, name) is not None for p in getattr(self, name).parameters()
        ]

    def refiner_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trained modules: SAM 2 is never saved again."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("sam2.")}

    # ------------------------------------------------------------------ encoding
    @torch.no_grad()
    def encode_backbone(
        self, images: torch.Tensor, originals: list[torch.Tensor] | None = None, quadrants: bool | None = None
    ) -> BackboneFeatures:
        """Runs the frozen encoder.

        images     [B, 3, S, S] normalised encoder inputs.
        originals  the same images normalised at their own resolution ([3, H, W] each), to cut the quadrants from;
                   when None the quadrants are cut from ``images``.
        quadrants  whether to encode LA's four quadrants too; by default when the model has LA.
        """
        b = images.shape[0]
        if quadrants is None:
            quadrants = self.localization_augment is not None
        batch = torch.cat([images, self.quadrant_inputs(images, originals)]) if quadrants else images
        fpn, pos = self._forward_encoder(batch)  # stride 4 (projected), 8 (projected), 16
        local = fpn[-1][b:].reshape(b, 4, *fpn[-1].shape[1:]) if quadrants else None
        return BackboneFeatures(
            global_feat=fpn[-1][:b], local_feats=local, high_res=[fpn[0][:b], fpn[1][:b]], image=images, vision_pos=pos
        )

    def quadrant_inputs(self, images: torch.Tensor, originals: list[torch.Tensor] | None = None) -> torch.Tensor:
        """[B*4, 3, S, S]: LA's four quadrants of each image, cut from ``originals`` (own resolution) when given."""
        sources = originals if originals is not None else list(images)
        return torch.cat([split_quadrants(x[None], self.image_size) for x in sources]).to(images)

    @torch.no_grad()
    def encode_quadrants(self, quadrants: torch.Tensor) -> torch.Tensor:
        """Stride-16 features [K, C, h, h] of K quadrant inputs: a part of LA's encoding that can run on its own
        (the service schedules each part as its own worker job)."""
        return self._forward_encoder(quadrants)[0][-1]

    def with_quadrants(self, bb: BackboneFeatures, local: torch.Tensor) -> BackboneFeatures:
        """``bb`` (encoded without quadrants) completed with its B images' quadrant features [B*4, C, h, h]."""
        return replace(bb, local_feats=local.reshape(bb.global_feat.shape[0], 4, *local.shape[1:]))

    def encoder_batch(self, device: torch.device | None = None) -> int | None:
        """Images per encoder call: all at once on GPUs; one at a time on CPUs (see ``_forward_encoder``)."""
        return None if (device or self.device).type == "cuda" else 1

    def _forward_encoder(self, batch: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """SAM 2's encoder: (backbone_fpn levels, their positional encodings for one image). One batch on GPUs;
        one image at a time on CPUs, where a batch of five measured 1.2x slower than five single passes
        (hiera_t at 1024: 11.6 s against 9.8 s)."""
        chunk = self.encoder_batch(batch.device) or batch.shape[0]
        outs = [self.sam2.forward_image(part) for part in batch.split(chunk)]
        fpn = [torch.cat(level) for level in zip(*(out["backbone_fpn"] for out in outs))]
        return fpn, [p[:1] for p in outs[0]["vision_pos_enc"]]

    def finish_features(
        self, bb: BackboneFeatures, orig_hw: list[tuple[int, int]], refiner_parts: bool = True
    ) -> ImageFeatures:
        """Applies the trainable per-image parts (outside ``no_grad``): Localization Augment and Mask Refinement's
        image term (unless ``refiner_parts`` is false: SAM 2's part only); and SAM 2's no-memory embedding."""
        no_mem = self.sam2.no_mem_embed.view(1, -1, 1, 1)
        add_no_mem = self.sam2.directly_add_no_mem_embed
        plain = bb.global_feat + no_mem if add_no_mem else bb.global_feat
        refined = mr_term = None
        if refiner_parts and self.localization_augment is not None and bb.local_feats is not None:
            refined = self.localization_augment(bb.global_feat, bb.local_feats)
            refined = refined + no_mem if add_no_mem else refined
        if refiner_parts and self.mask_refinement is not None:
            mr_term = self.mask_refinement.image_term(bb.image)
        return ImageFeatures(plain, refined, list(bb.high_res), bb.image, list(orig_hw), mr_term)

    def encode_image(self, images: torch.Tensor, orig_hw, originals=None) -> ImageFeatures:
        return self.finish_features(self.encode_backbone(images, originals), orig_hw)

    # ------------------------------------------------------------------ decoding
    def predict_masks(
        self,
        features: ImageFeatures,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        switches: RefinerSwitches | None = None,
        timings: dict | None = None,
    ) -> MaskPrediction:
        """Masks for N prompt sets on ONE image (``features`` of batch 1).

        point_coords [N, P, 2] in encoder-input pixels (boxes are two points labelled 2 and 3, first),
        point_labels [N, P], mask_input [N, 1, S/4, S/4] logits or None. ``timings``, when given, gets the
        seconds of SAM 2's decoder ("decoder") and of Prompt Retargeting + Mask Refinement ("refine").
        Features without LA's or MR's parts (``ImageFeatures.complete`` false) run those modules off.
        """
        switches = self.active_switches(switches) & features.switches_available()
        embed = features.refined_embed if switches.la else features.image_embed
        timer = StageTimer(self.device, timings)
        with timer.stage("decoder"):
            decoded = decode(
                self.sam2, embed, features.high_res, point_coords, point_labels, mask_input, multimask_output
            )
        with timer.stage("refine"):
            return self.refine(decoded, features.mr_image_term, switches, point_coords, point_labels)

    def active_switches(self, switches: RefinerSwitches | None) -> RefinerSwitches:
        """The per-call switches, limited to the modules this model has."""
        return self.config.modules & (switches if switches is not None else self.config.modules)

    def refine(
        self,
        decoded: DecodedMasks,
        mr_image_term: torch.Tensor | None,
        switches: RefinerSwitches,
        point_coords: torch.Tensor | None = None,
        point_labels: torch.Tensor | None = None,
    ) -> MaskPrediction:
        """Prompt Retargeting and Mask Refinement on SAM 2's decoder outputs.

        ``point_coords``/``point_labels`` are the clicks drawn on PR's prompt map; in video they are the object's
        first prompt while SAM 2's decoder itself saw none. ``mr_image_term`` [1, 1, S, S] is the image's
        ``MaskRefinement.image_term`` (kept with its features), needed when MR runs.
        """
        n, m = decoded.token_index.shape
        coarse = decoded.masks
        object_embed = decoded.object_embed
        if switches.pr:
            coarse, object_embed = self._retarget(decoded, point_coords, point_labels)
        else:
            object_embed = object_embed.repeat_interleave(m, dim=0)
        aux: list[torch.Tensor] = []
        logits = coarse.float()
        if switches.mr:
            embed = decoded.image_embed
            feats = [embed, decoded.high_res[1], decoded.high_res[0]]
            refined, aux = self.mask_refinement(object_embed, feats, mr_image_term, coarse.flatten(0, 1)[:, None])
            logits = refined.view(n, m, *refined.shape[-2:])
        return MaskPrediction(
            logits,
            coarse.float(),
            decoded.iou.float(),
            decoded.object_score_logits,
            aux,
            decoded.token_index,
            object_embed,
        )

    def _retarget(self, decoded: DecodedMasks, point_coords, point_labels):
        """Prompt Retargeting for every candidate; returns its coarse masks and the renewed embeddings."""
        n, m = decoded.token_index.shape
        decoder = self.sam2.sam_mask_decoder
        augmented = self.prompt_retargeting.augment(decoded.object_embed)
        rep = lambda t: t.repeat_interleave(m, dim=0)  # noqa: E731  (per object -> per candidate)
        if point_coords is not None and point_coords.shape[0] != n:  # one prompt shared by N objects
            point_coords, point_labels = point_coords.expand(n, -1, -1), point_labels.expand(n, -1)
        prompt_map = rasterize_prompt_map(
            rep(point_coords) if point_coords is not None else None,
            rep(point_labels) if point_labels is not None else None,
            decoded.masks.flatten(0, 1)[:, None].float(),
            self.image_size,
            self.config.click_radius,
        ).to(augmented.dtype)
        tokens, embed = self.prompt_retargeting(
            rep(augmented), rep(decoded.tokens), rep(decoded.prompt_tokens), decoded.image_pe, prompt_map
        )
        flat_index = decoded.token_index.flatten()
        masks = masks_from_embedding(
            decoder, embed, mask_tokens(decoder, tokens, flat_index), flat_index, decoded.high_res
        )
        return masks.view(n, m, *masks.shape[-2:]), embed

    def mask_prompt_logits(self, mask) -> torch.Tensor:
        """A binary mask prompt [H, W] at the image's size -> [1, S/4, S/4] decoder mask-input logits."""
        return mask_prompt_logits(mask, self.mask_input_size, self.device)

    def upsample_logits(self, logits: torch.Tensor, orig_hw: tuple[int, int]) -> torch.Tensor:
        """[N, M, R, R] -> [N, M, H, W] at the original image size: one bilinear resize, as SAM 2 does."""
        return F.interpolate(logits.float(), size=orig_hw, mode="bilinear", align_corners=False)
