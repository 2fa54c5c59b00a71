"""Localization Augment (paper sec. 3.2.1): global-local cross-attention over the image and its quadrants.

The image encoder sees the image and its four quadrants (each upsampled to the encoder's input size) as one
batch of five. The quadrants' stride-16 features are tiled back into one map of twice the side, pooled with
receptive fields 2, 4 and 8, tokenised, and used as keys/values of a cross-attention whose queries are the
global image's tokens. The refined global feature replaces SAM 2's lowest-resolution feature.

Shapes (S = image_size, C = 256, h = S/16):
    global_feat  [B, C, h, h]        the whole image's stride-16 feature
    local_feats  [B, 4, C, h, h]     the quadrants' stride-16 features, order top-left, top-right,
                                     bottom-left, bottom-right
    returns      [B, C, h, h]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sam2.modeling.position_encoding import PositionEmbeddingSine
from sam2.modeling.sam.transformer import Attention
from sam2.modeling.sam2_utils import MLP
from torch import nn

from ..sam2_compat.private import encode_xy


def split_quadrants(images: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 3, H, W] images -> [B*4, 3, size, size] quadrants, each resized to the encoder input.

    The quadrants are cut from the image at its own resolution (not from the already downscaled encoder input),
    so a large photo gives the encoder four times the detail it would otherwise see.
    """
    h, w = images.shape[-2:]
    h2, w2 = h // 2, w // 2
    quads = [images[..., :h2, :w2], images[..., :h2, w2:], images[..., h2:, :w2], images[..., h2:, w2:]]
    resized = [F.interpolate(q, size=(size, size), mode="bilinear", align_corners=False, antialias=True) for q in quads]
    return torch.stack(resized, dim=1).flatten(0, 1)


def tile_quadrants(local_feats: torch.Tensor) -> torch.Tensor:
    """[B, 4, C, h, w] quadrant features -> [B, C, 2h, 2w], each at its place in the image."""
    tl, tr, bl, br = local_feats.unbind(1)
    return torch.cat([torch.cat([tl, tr], dim=-1), torch.cat([bl, br], dim=-1)], dim=-2)


class LocalizationAugment(nn.Module):
    def __init__(self, dim: int = 256, num_heads: int = 8, pool_sizes=(2, 4, 8), mlp_dim: int = 1024):
        super().__init__()
        self.pool_sizes = tuple(pool_sizes)
        self.pos_enc = PositionEmbeddingSine(num_pos_feats=dim, normalize=True, warmup_cache=False)
        # Learned per-granularity embeddings tell the attention which pooling a key came from.
        self.level_embed = nn.Parameter(torch.zeros(len(self.pool_sizes), dim))
        nn.init.normal_(self.level_embed, std=0.02)
        # Pre-norm residual block: the output stays on the scale of SAM 2's own feature, which the frozen
        # mask decoder expects.
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, num_heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_dim, dim, num_layers=2)

    def grid_pe(self, size: tuple[int, int], global_size: tuple[int, int], device) -> torch.Tensor:
        """Sine encodings [rows*cols, C] of a grid of ``size`` cells over the image, in the GLOBAL grid's frame.

        sam2's ``PositionEmbeddingSine`` places global cell i at (i + 1) / h (its far edge). A pooled cell covers
        several global cells; it is placed at the mean of their positions, i.e. its centre in global cells plus
        the same half-cell offset, so a key and the queries over the same pixels get the same encoding (a pooled
        grid's own normalisation, (j + 1) / g, would put it up to 1.5 global cells off at pool size 8).
        """

        def coords(n: int, global_n: int) -> torch.Tensor:
            centre = (torch.arange(n, dtype=torch.float32, device=device) + 0.5) * (global_n / n)  # in global cells
            return (centre + 0.5) / (global_n + 1e-6)  # sam2's (i + 1) / (h + eps) at a global cell's centre

        ys, xs = torch.meshgrid(coords(size[0], global_size[0]), coords(size[1], global_size[1]), indexing="ij")
        pos_x, pos_y = encode_xy(self.pos_enc, x=xs.flatten(), y=ys.flatten())  # scaled by 2 pi inside, as _pe
        return torch.cat([pos_y, pos_x], dim=1)

    def forward(self, global_feat: torch.Tensor, local_feats: torch.Tensor) -> torch.Tensor:
        b, c, h, w = global_feat.shape
        local = tile_quadrants(local_feats)  # [B, C, 2h, 2w]
        keys, key_pos = [], []
        for level, k in enumerate(self.pool_sizes):
            pooled = F.avg_pool2d(local, kernel_size=k, stride=k)
            keys.append(pooled.flatten(2).transpose(1, 2))
            pe = self.grid_pe(pooled.shape[-2:], (h, w), pooled.device).to(pooled.dtype)
            key_pos.append(pe[None] + self.level_embed[level])
        keys = torch.cat(keys, dim=1)  # [B, Nk, C]
        key_pos = torch.cat(key_pos, dim=1)
        queries = global_feat.flatten(2).transpose(1, 2)  # [B, h*w, C]
        query_pos = self.pos_enc(global_feat).to(global_feat.dtype).flatten(2).transpose(1, 2)

        q, kv = self.norm_q(queries), self.norm_kv(keys)
        refined = queries + self.cross_attn(q=q + query_pos, k=kv + key_pos, v=kv)
        refined = refined + self.mlp(self.norm_mlp(refined))
        return refined.transpose(1, 2).reshape(b, c, h, w)
