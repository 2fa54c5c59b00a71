"""Mask Refinement (paper sec. 3.2.3): a UNet-like decoder from the object embedding to a full-resolution mask.

Three decoder blocks (upsample, concatenate the encoder's feature of that scale, conv) climb from the object
embedding at stride 16 through the encoder's stride-16, 8 and 4 features; each block has its own 1-channel
head for intermediate supervision. Two transposed convs bring the stride-4 feature to the encoder's input
resolution, where a low-level feature of the input image is added, and a final conv gives the mask logits.

The mask is predicted as a correction of the coarse mask (SAM 2's or Prompt Retargeting's, upsampled): the
coarse logits also enter the stride-4 block so every candidate mask of an object is refined on its own.

Shapes (N = objects x candidates, S = image_size, h = S/16; image-level inputs may have batch 1 and are
broadcast over N):
    object_embed [N, 256, h, h]     feats: [B, 256, h, h], [B, 64, 2h, 2h], [B, 32, 4h, 4h]
    image        [B, 3, S, S]       coarse_logits [N, 1, 4h, 4h]
    returns      logits [N, 1, S, S] and three intermediate logits [N, 1, h|2h|4h, ...]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    # A 1x1 first narrows the wide concatenation, so the 3x3 runs on few channels: at 1024 input this keeps the
    # three blocks near 1.5 GFLOP per mask instead of about 12 with a plain 3x3 on the concatenation.
    return nn.Sequential(
        nn.Conv2d(cin, cout, 1), nn.GroupNorm(min(8, cout), cout), nn.GELU(),
        nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(min(8, cout), cout), nn.GELU(),
    )


def _broadcast(x: torch.Tensor, n: int) -> torch.Tensor:
    return x if x.shape[0] == n else x.expand(n, *x.shape[1:])


class MaskRefinement(nn.Module):
    # Coarse logits are divided by this before entering the network (SAM logits reach +-30).
    COARSE_SCALE = 10.0

    def __init__(self, dim: int = 256, feat_dims=(256, 64, 32), channels=(64, 32, 16, 16)):
        super().__init__()
        c1, c2, c3, c4 = channels
        f16, f8, f4 = feat_dims
        self.block1 = _conv_block(dim + f16, c1)
        self.block2 = _conv_block(c1 + f8, c2)
        self.block3 = _conv_block(c2 + f4 + 1, c3)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1) for c in (c1, c2, c3))
        self.upscale = nn.Sequential(
            nn.ConvTranspose2d(c3, c4, 2, stride=2), nn.GroupNorm(min(8, c4), c4), nn.GELU(),
            nn.ConvTranspose2d(c4, c4, 2, stride=2), nn.GELU(),
        )
        # Full resolution is the expensive place (memory traffic more than FLOPs): one narrow 3x3 and a 1x1.
        self.low_level = nn.Sequential(nn.Conv2d(3, c4 // 2, 3, padding=1), nn.GELU(), nn.Conv2d(c4 // 2, c4, 1))
        self.out = nn.Conv2d(c4, 1, 3, padding=1)

    def forward(
        self,
        object_embed: torch.Tensor,
        feats: list[torch.Tensor],
        image: torch.Tensor,
        coarse_logits: torch.Tensor,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        n = object_embed.shape[0]
        f16, f8, f4 = (_broadcast(f, n) for f in feats)
        x1 = self.block1(torch.cat([object_embed, f16], dim=1))
        x2 = self.block2(torch.cat([F.interpolate(x1, scale_factor=2.0, mode="bilinear"), f8], dim=1))
        coarse_in = (coarse_logits / self.COARSE_SCALE).to(x2.dtype)
        x3 = self.block3(torch.cat([F.interpolate(x2, scale_factor=2.0, mode="bilinear"), f4, coarse_in], dim=1))
        aux = [head(x) for head, x in zip(self.heads, (x1, x2, x3))]
        # Channels-last makes the full-resolution convs about 3x faster on CPU (oneDNN's native layout).
        cl = torch.channels_last
        x3 = x3.contiguous(memory_format=cl)
        low = self.low_level(image.to(x3.dtype).contiguous(memory_format=cl))
        full = self.upscale(x3) + low  # the image-level term broadcasts over the N masks
        size = full.shape[-2:]
        coarse_up = F.interpolate(coarse_logits.float(), size=size, mode="bilinear", align_corners=False)
        return coarse_up + self.out(full).float(), aux
