"""The exported decoder (onnxruntime) against sam2's own prompt encoder + mask decoder (torch, as ``decode`` runs
them for the service): random features and prompts, point counts on both sides of FEW_POINTS (the model's two
graphs), boxes, with and without a mask prompt, both of SAM 2's answers (three candidates, and the single mask
with its stability fallback), at onnxruntime's full graph optimisation; with it off (the page's fallback when the
optimiser fails on a graph) the outputs are the same."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from sam2refiner.model.sam2_compat import decode
from sam2refiner.model.sam2_compat.onnx_decoder import (
    INPUTS,
    OUTPUTS,
    cached_decoder_onnx,
    decoder_digest,
    example_inputs,
)

TOLERANCE = 1e-3  # max |logit difference|, the bound
LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def _session(path, level: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[level]
    options.intra_op_num_threads = 1  # no spinning threads on a shared CPU
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def session(decoder_onnx):
    return _session(decoder_onnx, "all")


def _prompts(sam2, n_points: int, box: bool, seed: int):
    """Random clicks (labels 0/1) in encoder-input pixels, a box's two corners (labels 2, 3) first when asked."""
    g = torch.Generator().manual_seed(seed)
    size = sam2.image_size
    coords = torch.rand(1, n_points, 2, generator=g) * size
    labels = torch.randint(0, 2, (1, n_points), generator=g)
    if box:
        corner = torch.rand(1, 2, generator=g) * size / 2
        corners = torch.stack([corner, corner + size / 3], dim=1)
        coords, labels = torch.cat([corners, coords], 1), torch.cat([torch.tensor([[2, 3]]), labels], 1)
    return coords, labels


@pytest.mark.parametrize("with_mask", [False, True], ids=["no-mask", "mask-prompt"])
@pytest.mark.parametrize(
    ("n_points", "box"), [(1, False), (2, False), (5, False), (9, False), (0, True), (3, True), (14, False), (9, True)]
)
def test_onnx_decoder_matches_sam2(refiner_model, session, n_points, box, with_mask):
    sam2 = refiner_model.sam2
    embed, hr0, hr1, *_ = example_inputs(sam2)
    seed = 100 * n_points + 10 * box + with_mask
    coords, labels = _prompts(sam2, n_points, box, seed)
    mask = (
        torch.randn(1, 1, *embed.shape[-2:], generator=torch.Generator().manual_seed(seed))
        .repeat_interleave(4, -1)
        .repeat_interleave(4, -2)
        * 8.0
        if with_mask
        else None
    )
    feeds = dict(
        zip(
            INPUTS,
            (
                embed,
                hr0,
                hr1,
                coords,
                labels.float(),
                mask if with_mask else torch.zeros(1, 1, *hr0.shape[-2:]),
                torch.tensor([float(with_mask)]),
            ),
        )
    )
    out = dict(zip(OUTPUTS, session.run(None, {k: v.numpy() for k, v in feeds.items()})))
    with torch.no_grad():
        multi = decode(sam2, embed, [hr0, hr1], coords, labels, mask, multimask_output=True)
        single = decode(sam2, embed, [hr0, hr1], coords, labels, mask, multimask_output=False)
    assert out["multi_logits"].shape == (1, 3, *hr0.shape[-2:])
    assert out["single_logits"].shape == (1, 1, *hr0.shape[-2:])
    diffs = {
        "multi_logits": np.abs(out["multi_logits"] - multi.masks.numpy()).max(),
        "multi_iou": np.abs(out["multi_iou"] - multi.iou.numpy()).max(),
        "single_logits": np.abs(out["single_logits"] - single.masks.numpy()).max(),
        "single_iou": np.abs(out["single_iou"] - single.iou.numpy()).max(),
    }
    assert max(diffs.values()) < TOLERANCE, diffs


@pytest.mark.parametrize("n_points", [1, 4])
def test_the_unoptimised_graph_gives_the_same_answers(refiner_model, decoder_onnx, session, n_points):
    """The page's fallback when onnxruntime's optimiser fails on the graph: optimisation off, the same outputs."""
    feeds = {k: v.numpy() for k, v in zip(INPUTS, example_inputs(refiner_model.sam2, n_points))}
    feeds["has_mask_input"] = np.ones(1, np.float32)
    for optimised, plain in zip(session.run(None, feeds), _session(decoder_onnx, "disabled").run(None, feeds)):
        assert np.abs(optimised - plain).max() < TOLERANCE


def test_mask_prompt_changes_the_answer(refiner_model, session):
    """has_mask_input switches the mask prompt on: the same clicks with a mask give other logits (not a constant)."""
    sam2 = refiner_model.sam2
    feeds = {k: v.numpy() for k, v in zip(INPUTS, example_inputs(sam2, 2))}
    without = session.run(["single_logits"], feeds)[0]
    feeds["mask_input"] = np.full_like(feeds["mask_input"], 10.0)
    assert np.array_equal(session.run(["single_logits"], feeds)[0], without)  # ignored while the switch is off
    feeds["has_mask_input"] = np.ones(1, np.float32)
    assert np.abs(session.run(["single_logits"], feeds)[0] - without).max() > 1e-2


def test_export_is_cached_by_the_weights(refiner_model, decoder_onnx, monkeypatch):
    """The same weights find the file already exported (no second export); other weights get another key."""
    from sam2refiner.model.sam2_compat import build_sam2_base, onnx_decoder

    def no_export(_sam2):
        raise AssertionError("exported again although the cache holds this model")

    monkeypatch.setattr(onnx_decoder, "export_decoder", no_export)
    assert cached_decoder_onnx(refiner_model.sam2, decoder_onnx.parent) == decoder_onnx
    other = build_sam2_base("hiera_t", refiner_model.image_size, seed=99)
    assert decoder_digest(other) != decoder_digest(refiner_model.sam2)
    assert not list(decoder_onnx.parent.glob("*.part"))  # no temporary file left behind
