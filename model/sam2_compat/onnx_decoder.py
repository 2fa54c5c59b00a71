"""SAM 2's prompt encoder and mask decoder as one ONNX graph, for a browser that decodes clicks itself.

    path = cached_decoder_onnx(sam2, cache_dir)        # exported once per decoder weights (their sha256)
    session = onnxruntime.InferenceSession(path)
    multi_logits, multi_iou, single_logits, single_iou = session.run(None, {
        "image_embed": [1, C, h, h], "high_res_0": [1, C/8, 4h, 4h], "high_res_1": [1, C/4, 2h, 2h],
        "point_coords": [1, P, 2] encoder-input pixels (boxes: two corners labelled 2, 3, first),
        "point_labels": [1, P] float, "mask_input": [1, 1, 4h, 4h] logits, "has_mask_input": [1] 0 or 1})

The graph is sam2's own modules, traced (``DecoderGraph`` composes them), twice: as they are, and with the
transformer's token<->image attentions taking their matrix products in the order that is cheaper for few points
(``onnx_attention``: the same function of the same weights; in onnxruntime-web about 1.4x faster at one click,
1.1x at 10 points, 0.87x at 15). The model runs the second up to ``FEW_POINTS`` points and the first past that
(``onnx_select``: one ``If`` on the point count). What is known to break in SAM exports, and how this one avoids it:

- multimask is an output, not an export-time constant: one pass yields both SAM 2's three candidates (tokens 1-3)
  and its single-mask answer (``MaskDecoder._dynamic_multimask_via_stability``, as in eval mode);
- the number of points is a dynamic axis (sam2 appends its padding point inside the graph, as ``decode`` calls it);
- the mask prompt is an input with a switch: ``has_mask_input`` blends the mask's embedding with sam2's
  "no mask" embedding, so one graph serves first clicks and corrections;
- onnxruntime's full graph optimisation has crashed on some SAM 2 decoder graphs: callers that hit it retry with
  optimisation off (the page's worker does; ``tests/model/sam2_compat/test_onnx_decoder.py`` runs both levels).
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from .onnx_attention import ReassociatedAttention
from .onnx_select import by_point_count
from .private import dynamic_multimask_via_stability

EXPORT_FORMAT = "sam2refiner-decoder-3"  # bump when the graph changes: old caches are ignored
FEW_POINTS = 10  # up to this many points (box corners included) the reassociated graph runs (module docstring)
OPSET = 17
INPUTS = ("image_embed", "high_res_0", "high_res_1", "point_coords", "point_labels", "mask_input", "has_mask_input")
OUTPUTS = ("multi_logits", "multi_iou", "single_logits", "single_iou")


class DecoderGraph(nn.Module):
    """sam2's prompt encoder + mask decoder for one object, both of SAM 2's answers from one decoder pass."""

    def __init__(self, prompt_encoder: nn.Module, mask_decoder: nn.Module):
        super().__init__()
        self.prompt_encoder, self.mask_decoder = prompt_encoder, mask_decoder

    def forward(self, image_embed, high_res_0, high_res_1, point_coords, point_labels, mask_input, has_mask_input):
        pe = self.prompt_encoder
        sparse, dense_mask = pe(points=(point_coords, point_labels), boxes=None, masks=mask_input)
        _, dense_none = pe(points=None, boxes=None, masks=None)
        on = has_mask_input.reshape(1, 1, 1, 1)
        dense = on * dense_mask + (1.0 - on) * dense_none
        logits, iou, _, _ = self.mask_decoder.predict_masks(
            image_embeddings=image_embed,
            image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            repeat_image=False,
            high_res_features=[high_res_0, high_res_1],
        )
        if self.mask_decoder.dynamic_multimask_via_stability:
            single_logits, single_iou = dynamic_multimask_via_stability(
                self.mask_decoder, all_mask_logits=logits, all_iou_scores=iou
            )
        else:
            single_logits, single_iou = logits[:, 0:1], iou[:, 0:1]
        return logits[:, 1:], iou[:, 1:], single_logits, single_iou


def decoder_graph(sam2, reassociated: bool = False) -> DecoderGraph:
    """A CPU float32 copy of ``sam2``'s prompt encoder and mask decoder, in eval mode (the served model stays
    put); its cross-attentions reassociated when asked (``ReassociatedAttention``)."""
    modules = (sam2.sam_prompt_encoder, sam2.sam_mask_decoder)
    graph = DecoderGraph(*(copy.deepcopy(m).to("cpu", torch.float32) for m in modules))
    if reassociated:
        ReassociatedAttention.replace_in(graph.mask_decoder.transformer)
    return graph.eval().requires_grad_(False)


def example_inputs(sam2, n_points: int = 2) -> tuple[torch.Tensor, ...]:
    """Inputs of the shapes ``sam2`` decodes (random features, the given number of points), in ``INPUTS`` order."""
    h = sam2.sam_prompt_encoder.image_embedding_size[0]
    c = sam2.sam_mask_decoder.transformer_dim
    size = sam2.image_size
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(1, c, h, h, generator=g),
        torch.randn(1, c // 8, 4 * h, 4 * h, generator=g),
        torch.randn(1, c // 4, 2 * h, 2 * h, generator=g),
        torch.rand(1, n_points, 2, generator=g) * size,
        torch.ones(1, n_points),
        torch.zeros(1, 1, 4 * h, 4 * h),
        torch.zeros(1),
    )


def decoder_digest(sam2) -> str:
    """sha256 of the weights the graph holds (prompt encoder + mask decoder) and of the export format: the cache
    key. Random weights have a digest too, and a new checkpoint or seed gives a new one."""
    h = hashlib.sha256(f"{EXPORT_FORMAT} opset{OPSET} size{sam2.image_size}".encode())
    for prefix, module in (("pe.", sam2.sam_prompt_encoder), ("md.", sam2.sam_mask_decoder)):
        for name, tensor in sorted(module.state_dict().items()):
            t = tensor.detach().to("cpu", torch.float32).contiguous()
            h.update(f"{prefix}{name}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()


def export_decoder(sam2) -> bytes:
    """The ONNX model (bytes) of ``sam2``'s prompt encoder + mask decoder (``DecoderGraph``, both ways: module
    docstring); the number of points is dynamic. Takes seconds on a CPU: callers cache it (``cached_decoder_onnx``)."""
    few = export_graph(decoder_graph(sam2, reassociated=True), sam2)
    return by_point_count(few, export_graph(decoder_graph(sam2), sam2), FEW_POINTS)


def export_graph(graph: DecoderGraph, sam2) -> bytes:
    """One ``DecoderGraph`` traced to ONNX (bytes)."""
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about sam2's shape asserts and argmax indexing: shapes here are fixed but the points',
        # and the indices are never negative.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            example_inputs(sam2),
            buffer,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, and SAM exports are known to work
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes={"point_coords": {1: "points"}, "point_labels": {1: "points"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def cached_decoder_onnx(sam2, cache_dir: str | Path) -> Path:
    """The exported decoder of ``sam2``, from ``cache_dir`` when an export of the same weights is there, else
    exported now and stored (written to a temporary file and renamed: a reader never sees half a model)."""
    cache_dir = Path(cache_dir)
    path = cache_dir / f"sam2-decoder-{decoder_digest(sam2)[:32]}.onnx"
    if path.is_file():
        return path
    data = export_decoder(sam2)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = [
    "INPUTS",
    "OUTPUTS",
    "FEW_POINTS",
    "DecoderGraph",
    "cached_decoder_onnx",
    "decoder_digest",
    "decoder_graph",
    "example_inputs",
    "export_decoder",
    "export_graph",
]
