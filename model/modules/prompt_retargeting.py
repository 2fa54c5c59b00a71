"""Prompt Retargeting (paper sec. 3.2.2): re-align the prompts with the (locally augmented) object embedding.

1. A multi-branch RFB-style block widens the receptive field of the mask decoder's object embedding E:
   per branch a 1x1 bottleneck then a 1xn and an nx1 conv (n = 3, 5, 7); the branches are concatenated and
   fused by a 1x1; a 1x1 shortcut of E is added -> E_a.
2. A 3-channel dense prompt map at the mask-prompt resolution (S/4: positive clicks as discs, negative clicks
   as discs, the decoder's mask as a probability) is encoded by two 2x2 stride-2 convs (GELU, LayerNorm) and
   a 1x1 to C channels -> E_p, and added: E_ap = E_a + E_p.
3. A retargeting block - self-attention over the decoder's output and sparse prompt tokens, token-to-embedding
   cross-attention, MLP, embedding-to-token cross-attention - renews tokens and embedding. This is exactly the
   layout of SAM's two-way attention block, so sam2's ``TwoWayAttentionBlock`` is used (fresh, trainable).

Shapes (N = objects x candidate masks, C = 256, h = S/16, m = S/4, T = tokens):
    object_embed [N, C, h, h]   tokens [N, T, C]   token_pe [N, T, C]   image_pe [1, C, h, h]
    prompt_map   [N, 3, m, m]
    returns      tokens [N, T, C], object_embed [N, C, h, h]
"""

from __future__ import annotations

import torch
from sam2.modeling.sam.transformer import TwoWayAttentionBlock
from sam2.modeling.sam2_utils import LayerNorm2d
from torch import nn


def rasterize_prompt_map(
    point_coords: torch.Tensor | None,
    point_labels: torch.Tensor | None,
    mask_logits: torch.Tensor,
    input_size: int,
    radius: float,
) -> torch.Tensor:
    """The 3-channel dense prompt map.

    point_coords [N, P, 2] in encoder-input pixels (0..input_size), point_labels [N, P] (1 positive,
    0 negative; box corners 2/3 and padding -1 are not clicks and are left out), mask_logits [N, 1, m, m].
    ``radius`` is the disc radius as a fraction of the map side. Returns [N, 3, m, m] in [0, 1].
    """
    n, _, m, _ = mask_logits.shape
    out = mask_logits.new_zeros(n, 3, m, m)
    out[:, 2:3] = torch.sigmoid(mask_logits)
    if point_coords is None or point_coords.numel() == 0:
        return out
    scale = m / input_size
    centers = point_coords.to(out.dtype) * scale  # [N, P, 2] in map pixels
    axis = torch.arange(m, device=out.device, dtype=out.dtype) + 0.5
    dx = axis.view(1, 1, 1, m) - centers[..., 0, None, None]  # [N, P, 1, m]
    dy = axis.view(1, 1, m, 1) - centers[..., 1, None, None]  # [N, P, m, 1]
    r = max(radius * m, 0.5)
    inside = (dx * dx + dy * dy) <= r * r  # [N, P, m, m]
    for channel, label in ((0, 1), (1, 0)):
        sel = (point_labels == label)[..., None, None]
        out[:, channel] = (inside & sel).any(dim=1).to(out.dtype)
    return out


class MultiBranchBlock(nn.Module):
    """RFB-style multi-receptive-field block on the object embedding (E -> E_a)."""

    def __init__(self, dim: int = 256, branch_dim: int = 64, kernel_sizes=(3, 5, 7)):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(dim, branch_dim, 1),
                nn.GELU(),
                nn.Conv2d(branch_dim, branch_dim, (1, k), padding=(0, k // 2)),
                nn.GELU(),
                nn.Conv2d(branch_dim, branch_dim, (k, 1), padding=(k // 2, 0)),
                nn.GELU(),
            )
            for k in kernel_sizes
        )
        self.fuse = nn.Conv2d(branch_dim * len(kernel_sizes), dim, 1)
        self.shortcut = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([b(x) for b in self.branches], dim=1)) + self.shortcut(x)


class DensePromptEncoder(nn.Module):
    """[N, 3, m, m] prompt map -> [N, C, m/4, m/4] dense prompt embedding E_p."""

    def __init__(self, dim: int = 256, hidden: int = 16):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, hidden // 4, kernel_size=2, stride=2),
            nn.GELU(),
            LayerNorm2d(hidden // 4),
            nn.Conv2d(hidden // 4, hidden, kernel_size=2, stride=2),
            nn.GELU(),
            LayerNorm2d(hidden),
            nn.Conv2d(hidden, dim, kernel_size=1),
        )

    def forward(self, prompt_map: torch.Tensor) -> torch.Tensor:
        return self.layers(prompt_map)


class PromptRetargeting(nn.Module):
    def __init__(self, dim: int = 256, num_heads: int = 8, mlp_dim: int = 2048):
        super().__init__()
        self.multi_branch = MultiBranchBlock(dim)
        self.dense_prompt_encoder = DensePromptEncoder(dim)
        self.retarget = TwoWayAttentionBlock(
            embedding_dim=dim, num_heads=num_heads, mlp_dim=mlp_dim, skip_first_layer_pe=False
        )

    def augment(self, object_embed: torch.Tensor) -> torch.Tensor:
        """E -> E_a. Split out so several candidate masks of one object share it."""
        return self.multi_branch(object_embed)

    def forward(
        self,
        augmented_embed: torch.Tensor,
        tokens: torch.Tensor,
        token_pe: torch.Tensor,
        image_pe: torch.Tensor,
        prompt_map: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = augmented_embed.shape
        embed = augmented_embed + self.dense_prompt_encoder(prompt_map)  # E_ap
        keys = embed.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2).expand(n, -1, -1)
        tokens, keys = self.retarget(queries=tokens, keys=keys, query_pe=token_pe, key_pe=key_pe)
        return tokens, keys.transpose(1, 2).reshape(n, c, h, w)
