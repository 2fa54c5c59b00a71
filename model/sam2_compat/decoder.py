"""SAM 2's prompt encoder and mask decoder, run and observed as the refiner needs them.

    decoded = decode(sam2, image_embed, high_res, coords, labels, mask_input, multimask_output=True)
    with capture_decoder(sam2) as capture:    # wherever sam2 itself calls its decoder (video: ``track_step``)
        ...
    decoded = capture.decoded()

The decoder runs unchanged (sam2's own call); forward hooks (``hooks.capture_io``) on it, its two-way transformer
and its IoU head record what the refiner builds on: all tokens, the embedding after the transformer (the paper's
E) and the IoU of all four output tokens. ``mask_tokens`` and ``masks_from_embedding`` reach into the decoder's
token layout and its frozen mask head (upscaling + hypernetwork MLPs), so Prompt Retargeting can renew the
embedding and still use SAM 2's own head.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from .hooks import capture_io


@dataclass
class DecodedMasks:
    """SAM 2's mask decoder outputs for N prompt sets, with the internals the refiner builds on.

    masks [N, M, S/4, S/4] and iou [N, M]: the candidates SAM 2 returns (as ``MaskDecoder.forward`` picks them)
    object_score_logits [N, 1]; token_index [N, M]: the output token behind each candidate
    tokens [N, T, C]: all tokens after the two-way transformer; prompt_tokens [N, T, C]: the same before it
    object_embed [N, C, h, h]: the image embedding after the two-way transformer (the paper's E)
    image_embed, image_pe, high_res: the decoder's image-side inputs
    """

    masks: torch.Tensor
    iou: torch.Tensor
    object_score_logits: torch.Tensor
    token_index: torch.Tensor
    tokens: torch.Tensor
    prompt_tokens: torch.Tensor
    object_embed: torch.Tensor
    image_embed: torch.Tensor
    image_pe: torch.Tensor
    high_res: list[torch.Tensor]

    def keep(self, index: torch.Tensor) -> DecodedMasks:
        """Only the candidates ``index`` [N, K] (positions among the M returned), e.g. the one SAM 2 keeps."""
        rows = torch.arange(index.shape[0], device=index.device)[:, None]
        return replace(
            self, masks=self.masks[rows, index], iou=self.iou[rows, index], token_index=self.token_index[rows, index]
        )


class DecoderCapture:
    """The record of one call of SAM 2's mask decoder (``capture_decoder``)."""

    def __init__(self, sam2, call: dict, transformer: dict, iou_head: dict):
        self.sam2, self.call, self.transformer, self.iou_head = sam2, call, transformer, iou_head

    def decoded(self) -> DecodedMasks:
        """The candidates SAM 2 returned, plus what the refiner needs (all tokens, the embedding after the two-way
        transformer, the decoder's image-side inputs)."""
        kwargs = self.call["kwargs"]
        masks, iou, _, obj_scores = self.call["output"]
        index = select_tokens(self.sam2.sam_mask_decoder, iou, self.iou_head["output"], kwargs["multimask_output"])
        n = index.shape[0]
        prompt_tokens, (hs, src) = self.transformer["args"][2], self.transformer["output"]
        image_embed = kwargs["image_embeddings"]
        h = image_embed.shape[-1]
        return DecodedMasks(
            masks=masks,
            iou=iou,
            object_score_logits=obj_scores,
            token_index=index,
            tokens=hs,
            prompt_tokens=prompt_tokens,
            object_embed=src.transpose(1, 2).reshape(n, -1, h, h),
            image_embed=image_embed,
            image_pe=kwargs["image_pe"],
            high_res=kwargs["high_res_features"],
        )


@contextmanager
def capture_decoder(sam2):
    """Records the next call of SAM 2's mask decoder, wherever sam2 makes it: its inputs and outputs, its
    transformer's I/O and the IoU head's scores of all four output tokens. Yields a ``DecoderCapture``."""
    decoder = sam2.sam_mask_decoder
    with (
        capture_io(decoder) as call,
        capture_io(decoder.transformer) as transformer,
        capture_io(decoder.iou_prediction_head) as iou_head,
    ):
        yield DecoderCapture(sam2, call, transformer, iou_head)


def decode(
    sam2,
    image_embed: torch.Tensor,
    high_res: list[torch.Tensor],
    point_coords: torch.Tensor | None,
    point_labels: torch.Tensor | None,
    mask_input: torch.Tensor | None,
    multimask_output: bool,
) -> DecodedMasks:
    """SAM 2's prompt encoder and mask decoder, exactly as sam2 runs them, keeping what the refiner needs.

    image_embed [1 or N, C, h, h] (the decoder input: SAM 2's feature, LA's, or a memory-conditioned one).
    """
    points = (point_coords, point_labels) if point_coords is not None else None
    sparse, dense = sam2.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
    with capture_decoder(sam2) as capture:
        sam2.sam_mask_decoder(  # called as sam2's SAM2ImagePredictor calls it
            image_embeddings=image_embed,
            image_pe=sam2.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=sparse.shape[0] > 1 and image_embed.shape[0] == 1,
            high_res_features=high_res,
        )
    return capture.decoded()


def select_tokens(decoder, iou: torch.Tensor, all_iou: torch.Tensor, multimask_output: bool) -> torch.Tensor:
    """Which decoder output token each returned candidate comes from, as SAM 2's decoder picked them.

    Multimask: tokens 1-3. Single mask: token 0, unless SAM 2's dynamic fallback found its mask unstable and
    took the best multimask token instead (``MaskDecoder._dynamic_multimask_via_stability``); the returned
    score ``iou`` is then that token's, not token 0's (``all_iou``: the IoU head's scores of the four tokens).
    """
    n = iou.shape[0]
    if multimask_output:
        return torch.arange(1, 4, device=iou.device).expand(n, 3)
    if decoder.dynamic_multimask_via_stability and not decoder.training:
        best = torch.argmax(all_iou[:, 1:], dim=-1, keepdim=True) + 1
        return torch.where(iou == all_iou[:, :1], torch.zeros_like(best), best)
    return torch.zeros(n, 1, dtype=torch.long, device=iou.device)


def mask_tokens(decoder, tokens: torch.Tensor, token_index: torch.Tensor) -> torch.Tensor:
    """The mask token of each row's candidate: ``tokens`` [K, T, C] (the decoder's token layout), ``token_index``
    [K] (0-3) -> [K, C]. Mask tokens sit after the object-score token (if any) and the IoU token."""
    first = 2 if decoder.pred_obj_scores else 1
    return tokens[torch.arange(tokens.shape[0], device=tokens.device), token_index + first]


def masks_from_embedding(decoder, embed, mask_tokens, token_index, high_res) -> torch.Tensor:
    """SAM 2's mask head (its frozen upscaling and hypernetwork MLPs) on a renewed embedding [K, C, h, h], with
    each row's mask token [K, C] and output token index [K] -> mask logits [K, S/4, S/4]."""
    dc1, ln1, act1, dc2, act2 = decoder.output_upscaling
    feat_s0, feat_s1 = high_res
    up = act1(ln1(dc1(embed) + feat_s1))
    up = act2(dc2(up) + feat_s0)
    hyper = torch.stack([mlp(mask_tokens) for mlp in decoder.output_hypernetworks_mlps], dim=1)
    hyper = hyper[torch.arange(hyper.shape[0], device=hyper.device), token_index]  # [N*M, C/8]
    return torch.einsum("nc,nchw->nhw", hyper, up)


__all__ = [
    "DecodedMasks",
    "DecoderCapture",
    "capture_decoder",
    "decode",
    "mask_tokens",
    "masks_from_embedding",
    "select_tokens",
]
