"""The exported decoder's reassociated cross-attention against sam2's ``Attention`` it wraps: the same outputs (up
to float rounding) in both directions, for few and many tokens; ``replace_in`` swaps exactly the transformer's
token<->image attentions."""

from __future__ import annotations

import pytest
import torch
from sam2.modeling.sam.transformer import Attention

from sam2refiner.model.sam2_compat.onnx_attention import ReassociatedAttention
from sam2refiner.model.sam2_compat.onnx_decoder import decoder_graph


@pytest.mark.parametrize("n_tokens", [1, 8, 40])
@pytest.mark.parametrize("wide", ["keys", "queries"])
def test_reassociated_attention_equals_sam2s(wide, n_tokens):
    torch.manual_seed(n_tokens)
    attention = Attention(256, num_heads=8, downsample_rate=2).eval()
    tokens, image = torch.randn(1, n_tokens, 256), torch.randn(1, 300, 256) * 3
    image_pe = torch.randn(1, 300, 256)
    if wide == "keys":  # tokens attend to the image (k: the image with its positions, v: the image)
        args = (tokens, image + image_pe, image)
    else:  # the image attends to the tokens
        args = (image + image_pe, tokens, tokens * 0.5)
    with torch.no_grad():
        expected = attention(*args)
        got = ReassociatedAttention(attention, wide)(*args)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-5 * max(1.0, expected.abs().max())


def test_replace_in_swaps_the_cross_attentions_only(refiner_model):
    transformer = decoder_graph(refiner_model.sam2, reassociated=True).mask_decoder.transformer
    swapped = [name for name, m in transformer.named_modules() if isinstance(m, ReassociatedAttention)]
    n_layers = len(transformer.layers)
    assert len(swapped) == 2 * n_layers + 1
    assert all(type(layer.self_attn) is Attention for layer in transformer.layers)  # token-only: left as it is
    # the served model is untouched
    assert type(refiner_model.sam2.sam_mask_decoder.transformer.final_attn_token_to_image) is Attention


def test_only_sam2s_plain_attention_is_wrapped():
    class Other(Attention):
        pass

    with pytest.raises(TypeError):
        ReassociatedAttention(Other(256, 8, 2), "keys")
    with pytest.raises(ValueError):
        ReassociatedAttention(Attention(256, 8, 2), "sideways")
