"""The streaming tracker beyond SAM 2 equivalence: the refiner in the loop, bounded state, the conditioning-frame
cap, purity, and bad prompts."""

from __future__ import annotations

import pytest
import torch

from sam2refiner.model import build_sam2refiner
from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.errors import InvalidInputError
from sam2refiner.model.video import StreamingTracker, TrackPrompt

from .helpers import SIZE, click_on, clip


@pytest.fixture(scope="module")
def full_model(video_checkpoint):
    """SAM 2 with all three refiner modules (random refiner weights), built with sam2's video options."""
    return build_sam2refiner("hiera_t", SIZE, "cpu", sam2_checkpoint=video_checkpoint, seed=3, video=True)


@pytest.fixture(scope="module")
def frames_and_click():
    frames, masks = clip(num_frames=24, seed=11)
    return frames, click_on(masks[0, 0])


@pytest.mark.slow
def test_refined_mask_goes_into_memory_and_pr_uses_the_first_prompt(full_model, frames_and_click):
    frames, click = frames_and_click
    tracker = StreamingTracker(full_model)
    state = tracker.new_state(refine=True)
    assert state.switches == RefinerSwitches(True, True, True)
    sam = full_model.sam2
    seen = {"memory_masks": [], "pr_coords": [], "decoder_labels": [], "candidates": []}
    original_encode, original_refine = sam._encode_new_memory, full_model.refine

    def encode_spy(**kwargs):  # sam2_compat calls sam2's private methods with keyword arguments
        seen["memory_masks"].append(kwargs["pred_masks_high_res"].clone())
        return original_encode(**kwargs)

    def refine_spy(decoded, image, switches, coords=None, labels=None):
        seen["pr_coords"].append(None if coords is None else coords.clone())
        seen["candidates"].append(tuple(decoded.token_index.shape))
        return original_refine(decoded, image, switches, coords, labels)

    hook = sam.sam_prompt_encoder.register_forward_hook(
        lambda _m, args, kw, out: seen["decoder_labels"].append(kw["points"][1].clone()), with_kwargs=True
    )
    sam._encode_new_memory, full_model.refine = encode_spy, refine_spy
    try:
        results = []
        for t, frame in enumerate(frames[:4]):
            feats = tracker.encode_frame(frame, state.switches)
            prompts = [TrackPrompt(1, points=click, labels=[1])] if t == 0 else []
            state, result = tracker.step(state, feats, prompts)
            results.append(result)
    finally:
        del sam._encode_new_memory, full_model.refine
        hook.remove()

    h, w = frames.shape[1:3]
    for t, (result, memory_mask) in enumerate(zip(results, seen["memory_masks"])):
        (obj,) = result.objects
        assert obj.logits.shape == (h, w)
        # What the user gets is the mask the memory encoder stored: Mask Refinement's full-resolution logits.
        assert memory_mask.shape[-2:] == (SIZE, SIZE)
        expected = full_model.upsample_logits(memory_mask, (h, w))[0, 0]
        if obj.visible:
            assert torch.allclose(obj.logits, expected, atol=1e-5)
        # (frame 0 is SAM 2's initial conditioning frame: no memory to attend to yet)
        assert {"decode", "refine", "memory_encode"} | ({"memory_attention"} if t else set()) <= set(result.timings)
    first = seen["pr_coords"][0]
    assert first is not None and torch.allclose(
        first[0, 0], torch.tensor(click[0]) * torch.tensor([SIZE / w, SIZE / h])
    )
    for coords in seen["pr_coords"][1:]:  # tracked frames: PR draws the first prompt again
        assert torch.equal(coords, first)
    for labels in seen["decoder_labels"][1:]:  # while SAM 2's decoder itself gets no prompt (a padding point)
        assert torch.all(labels == -1)
    # Only the candidate SAM 2 keeps is refined, also on the first frame, where its decoder returned three.
    assert sam._use_multimask(True, {"point_labels": torch.ones(1, 1)}) and seen["candidates"] == [(1, 1)] * 4


@pytest.mark.slow
def test_state_is_bounded_capped_and_never_modified_in_place(video_checkpoint, frames_and_click):
    model = build_sam2refiner(
        "hiera_t", SIZE, "cpu", sam2_checkpoint=video_checkpoint, modules=RefinerSwitches.off(), video=True
    )
    frames, click = frames_and_click
    tracker = StreamingTracker(model, max_cond_frames=3)
    state = tracker.new_state(refine=False)
    sizes = {}
    for t, frame in enumerate(frames):
        feats = tracker.encode_frame(frame, state.switches)
        before = state
        snapshot = {k: (dict(o.cond), dict(o.non_cond)) for k, o in before.objects.items()}
        state, _ = tracker.step(state, feats, [TrackPrompt(1, points=click, labels=[1])] if t == 0 else [])
        if 2 <= t <= 5:  # corrections: four more conditioning frames, over the cap of 3
            state, _ = tracker.prompt(state, feats, [TrackPrompt(1, points=click, labels=[1])])
        if t == 9:
            with pytest.raises(InvalidInputError, match="point_coords"):
                tracker.prompt(state, feats, [TrackPrompt(1, points=[[1e5, 1.0]], labels=[1])])
            with pytest.raises(InvalidInputError, match="one prompt per object"):
                tracker.prompt(state, feats, [TrackPrompt(2, points=click, labels=[1])] * 2)
            assert list(state.objects) == [1]
        assert {k: (dict(o.cond), dict(o.non_cond)) for k, o in before.objects.items()} == snapshot
        assert before.frame_idx == t - 1
        sizes[t] = state.nbytes()
    obj = state.objects[1]
    assert sorted(obj.cond) == [0, 4, 5]  # the first and the most recent; 2 and 3 became tracked frames
    last = len(frames) - 1
    # Pointers of the last 16 frames.
    assert sorted(obj.non_cond) == [t for t in range(last - 15, last + 1) if t not in obj.cond]
    with_features = sorted(t for t, m in obj.non_cond.items() if m.maskmem_features is not None)
    assert with_features == list(range(last - 6, last + 1))  # spatial memory of the last 7
    assert sizes[last] == sizes[last - 1] == sizes[last - 2]  # the state stopped growing
    assert tracker.reset(state).objects == {} and tracker.remove_object(state, 1).objects == {}
