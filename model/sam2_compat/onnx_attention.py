"""sam2's cross-attention between the decoder's few tokens and the image's 64x64 grid, reassociated for the
exported decoder: the same function of the same weights, with the matrix products taken in the cheaper order.

SAM 2's ``Attention`` projects every one of the L = 4096 image positions (L x 256 -> L x 128) before it attends
to or from the N prompt and output tokens (N = 6 + the points). Attention is linear in those projections, so the
image side can meet the tokens' side first (a query's score against a key is ``q Wk x + q bk``, and a softmax
average of ``x Wv + bv`` is ``(p x) Wv + bv``): each product then costs L x 256 x heads*N instead of
L x 256 x 128, about half the decoder's multiply-adds at one click (N = 8, 8 heads). Equal up to float rounding
(``tests/model/sam2_compat/test_onnx_decoder.py`` bounds the exported logits against sam2's own decoder).

    ReassociatedAttention.replace_in(mask_decoder.transformer)   # in a copy, before the export
"""

from __future__ import annotations

import torch
from sam2.modeling.sam.transformer import Attention
from torch import nn


class ReassociatedAttention(nn.Module):
    """One of sam2's ``Attention`` modules (its weights, shared), with the image as the keys (``wide="keys"``:
    tokens attend to the image) or as the queries (``wide="queries"``: the image attends to the tokens)."""

    def __init__(self, attention: Attention, wide: str):
        super().__init__()
        if type(attention) is not Attention:  # a subclass (RoPEAttention) computes something else
            raise TypeError(f"expected sam2's Attention, not {type(attention).__name__}")
        if wide not in ("keys", "queries"):
            raise ValueError(f"wide must be 'keys' or 'queries', not {wide!r}")
        self.attention, self.wide = attention, wide
        self.heads = attention.num_heads
        self.head_dim = attention.internal_dim // self.heads

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self._to_image(q, k, v) if self.wide == "keys" else self._from_image(q, k, v)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """B x N x (H d) -> B x H x N x d"""
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

    def _per_head(self, linear: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        """A projection's weight as H x d x in and its bias as H x 1 x d."""
        return linear.weight.reshape(self.heads, self.head_dim, -1), linear.bias.reshape(self.heads, 1, self.head_dim)

    def _to_image(self, q, k, v):
        """Few queries (tokens), many keys (image; k and v as ``Attention`` takes them, before projection)."""
        a = self.attention
        b, n, _ = q.shape
        h = self.heads
        qh = self._split(a.q_proj(q)) * self.head_dim**-0.5  # B H N d, scaled as scaled_dot_product_attention
        wk, bk = self._per_head(a.k_proj)
        scores = (qh @ wk).reshape(b, h * n, -1) @ k.transpose(1, 2)  # B (H N) L
        scores = scores.reshape(b, h, n, -1) + (qh * bk).sum(-1, keepdim=True)
        p = scores.softmax(-1)
        wv, bv = self._per_head(a.v_proj)
        pooled = (p.reshape(b, h * n, -1) @ v).reshape(b, h, n, -1)  # B H N in: each row of p sums to 1
        out = pooled @ wv.transpose(1, 2) + bv  # B H N d
        return a.out_proj(out.transpose(1, 2).reshape(b, n, h * self.head_dim))

    def _from_image(self, q, k, v):
        """Many queries (image), few keys (tokens)."""
        a = self.attention
        b, n, _ = k.shape
        h = self.heads
        kh = self._split(a.k_proj(k)) * self.head_dim**-0.5  # B H N d
        vh = self._split(a.v_proj(v))  # B H N d
        wq, bq = self._per_head(a.q_proj)
        meet = (kh @ wq).reshape(b, h * n, -1)  # B (H N) in: k_h Wq_h
        scores = (q @ meet.transpose(1, 2)).reshape(b, -1, h, n)  # B L H N
        scores = scores + (kh * bq).sum(-1).reshape(b, 1, h, n)
        p = scores.softmax(-1)
        wo = a.out_proj.weight.reshape(-1, h, self.head_dim).permute(1, 2, 0)  # H d out
        values = (vh @ wo).reshape(b, h * n, -1)  # B (H N) out: v_h Wo_h^T
        return p.reshape(b, -1, h * n) @ values + a.out_proj.bias

    @classmethod
    def replace_in(cls, transformer: nn.Module) -> nn.Module:
        """``transformer`` (sam2's ``TwoWayTransformer``) with its token<->image attentions reassociated, in place."""
        for layer in transformer.layers:
            layer.cross_attn_token_to_image = cls(layer.cross_attn_token_to_image, "keys")
            layer.cross_attn_image_to_token = cls(layer.cross_attn_image_to_token, "queries")
        transformer.final_attn_token_to_image = cls(transformer.final_attn_token_to_image, "keys")
        return transformer
