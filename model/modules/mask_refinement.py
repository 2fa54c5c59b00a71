"""Mask Refinement (paper sec. 3.2.3): a UNet-like decoder from the object embedding to a full-resolution mask.

Three decoder blocks (upsample, concatenate the encoder's feature of that scale, conv) climb from the object
embedding at stride 16 through the encoder's stride-16, 8 and 4 features; each block has its own 1-channel
head for intermediate supervision. Two transposed convs bring the stride-4 feature to the encoder's input
resolution, where a low-level feature of the input image is added, and a final 3x3 conv gives the mask logits:

    logits = out(up2(gelu(gn(up1(x3)))) + low_level(image))

Everything after the GELU at S/2 is linear, and that is what makes the full-resolution stage cheap (it was most
of a refined click's time at 1024 on a CPU, bound by memory traffic on 16-channel S x S maps):
- the image's share, ``image_term(image)`` = out(low_level(image)) plus up2's bias seen through out, [B, 1, S, S],
  is computed once per image and kept with its cached features instead of once per mask;
- each mask's share, out(up2(.)) without biases, is one 3x3 conv from the S/2 map to the four sub-pixel phases
  (up2's 2x2 kernel composed with out's 3x3) and a pixel shuffle: no 16-channel S x S tensor is ever made.
Same parameters and the same function (to float rounding) as the plain composition; ``reference_logits``
computes that plain form and the tests hold the two equal.

The mask is predicted as a correction of the coarse mask (SAM 2's or Prompt Retargeting's, upsampled): the
coarse logits also enter the stride-4 block so every candidate mask of an object is refined on its own.

Shapes (N = objects x candidates, S = image_size, h = S/16; image-level inputs may have batch 1 and are
broadcast over N):
    object_embed [N, 256, h, h]     feats: [B, 256, h, h], [B, 64, 2h, 2h], [B, 32, 4h, 4h]
    image_term   [B, 1, S, S]       (``image_term`` of the normalised input [B, 3, S, S])
    coarse_logits [N, 1, 4h, 4h]
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
        nn.Conv2d(cin, cout, 1),
        nn.GroupNorm(min(8, cout), cout),
        nn.GELU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.GroupNorm(min(8, cout), cout),
        nn.GELU(),
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
        # Linear from the second transposed conv on (no activation at S): see the module docstring.
        self.upscale = nn.Sequential(
            nn.ConvTranspose2d(c3, c4, 2, stride=2),
            nn.GroupNorm(min(8, c4), c4),
            nn.GELU(),
            nn.ConvTranspose2d(c4, c4, 2, stride=2),
        )
        # Full resolution is the expensive place (memory traffic more than FLOPs): one narrow 3x3 and a 1x1.
        self.low_level = nn.Sequential(nn.Conv2d(3, c4 // 2, 3, padding=1), nn.GELU(), nn.Conv2d(c4 // 2, c4, 1))
        self.out = nn.Conv2d(c4, 1, 3, padding=1)

    def image_term(self, image: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] normalised input -> [B, 1, S, S]: the per-image share of the logits, out(low_level(image))
        plus up2's bias through out (zero-padded at the borders exactly like the full map would be)."""
        cl = torch.channels_last  # oneDNN's native layout: about 3x faster for these convs on CPU
        low = self.low_level(image.contiguous(memory_format=cl))
        up2 = self.upscale[3]
        bias_kernel = torch.einsum("c,ocyx->oyx", up2.bias, self.out.weight)[:, None].to(low.dtype)  # [1, 1, 3, 3]
        ones = torch.ones_like(low[:1, :1])
        return self.out(low) + F.conv2d(ones, bias_kernel, None, padding=1)

    def _phase_kernel(self) -> torch.Tensor:
        """out's 3x3 composed with up2's 2x2 stride-2 kernel: [4, C, 3, 3] on the S/2 map, one output channel per
        sub-pixel phase (a, b) in pixel-shuffle order. Full-res offset a + dy lands on S/2 cell floor((a+dy)/2),
        phase (a+dy) mod 2."""
        w_up = self.upscale[3].weight  # [C_in, C_mid, 2, 2]
        w_out = self.out.weight[0]  # [C_mid, 3, 3]
        kernel = w_up.new_zeros(2, 2, w_up.shape[0], 3, 3)
        for a in range(2):
            for b in range(2):
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        (ci, pa), (cj, pb) = divmod(a + dy, 2), divmod(b + dx, 2)
                        kernel[a, b, :, ci + 1, cj + 1] += w_up[:, :, pa, pb] @ w_out[:, dy + 1, dx + 1]
        return kernel.flatten(0, 1)

    def forward(
        self,
        object_embed: torch.Tensor,
        feats: list[torch.Tensor],
        image_term: torch.Tensor,
        coarse_logits: torch.Tensor,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        half, aux = self._to_half_resolution(object_embed, feats, coarse_logits)
        phases = F.conv2d(half, self._phase_kernel().to(half.dtype), None, padding=1)  # [N, 4, S/2, S/2]
        correction = F.pixel_shuffle(phases, 2) + image_term.to(phases.dtype)  # [N, 1, S, S]
        return self._coarse_up(coarse_logits, correction.shape[-2:]) + correction.float(), aux

    def reference_logits(self, object_embed, feats, image, coarse_logits) -> torch.Tensor:
        """The plain composition out(up2(...) + low_level(image)) that ``forward`` computes in a cheaper order."""
        half, _ = self._to_half_resolution(object_embed, feats, coarse_logits)
        full = self.upscale[3](half) + self.low_level(image.to(half.dtype))
        return self._coarse_up(coarse_logits, full.shape[-2:]) + self.out(full).float()

    def _to_half_resolution(self, object_embed, feats, coarse_logits):
        """The three blocks (strides 16, 8, 4), their heads, and up1 + GroupNorm + GELU: [N, C, S/2, S/2]."""
        n = object_embed.shape[0]
        f16, f8, f4 = (_broadcast(f, n) for f in feats)
        x1 = self.block1(torch.cat([object_embed, f16], dim=1))
        x2 = self.block2(torch.cat([F.interpolate(x1, scale_factor=2.0, mode="bilinear"), f8], dim=1))
        coarse_in = (coarse_logits / self.COARSE_SCALE).to(x2.dtype)
        x3 = self.block3(torch.cat([F.interpolate(x2, scale_factor=2.0, mode="bilinear"), f4, coarse_in], dim=1))
        aux = [head(x) for head, x in zip(self.heads, (x1, x2, x3))]
        half = self.upscale[:3](x3.contiguous(memory_format=torch.channels_last))
        return half, aux

    @staticmethod
    def _coarse_up(coarse_logits, size):
        return F.interpolate(coarse_logits.float(), size=size, mode="bilinear", align_corners=False)
