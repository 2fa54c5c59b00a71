"""Objects tracked together (one batch per frame, memory attention per memory layout) give what tracking them one
by one gives: the masks, scores and everything stored for later frames (issue 20, item 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2refiner.model import build_sam2refiner
from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.video import StreamingTracker, TrackPrompt

from .helpers import SIZE, click_on, clip

pytestmark = pytest.mark.slow  # four trackers over an 11-frame clip

ATOL = 1e-4
ADDED_AT = {1: 0, 2: 1, 3: 2}
GONE_FROM = 6  # object 2 is painted out of the frames from here on
REMOVED_AT = 10  # and removed by the user here
MAX_POINTERS = 4  # sam2's max_obj_ptrs_in_encoder (16), lowered so that memories line up within a short clip
# Memories line up (the same number of memory frames and object pointers) once every object has 6 tracked frames
# of spatial memory (num_maskmem - 1): from frame 2 + 7 all three go through memory attention as one batch.
ALL_LINED_UP = ADDED_AT[3] + 7


def _clip():
    """Frames with three objects (two of the clip's, the third a second click region on the background), the
    second painted over with frame 0's background from ``GONE_FROM``."""
    frames, masks = clip(num_frames=REMOVED_AT + 1, seed=9)
    frames = frames.copy()
    gone = masks[GONE_FROM:, 1]
    frames[GONE_FROM:][gone] = frames[0][masks[0, 1] == 0].mean(axis=0).astype(np.uint8)
    return frames, masks


def _prompts(frames, masks) -> dict[int, list[TrackPrompt]]:
    """Objects added on different frames with prompts of different lengths: one click, two clicks, a box."""
    h, w = frames.shape[1:3]
    at = ADDED_AT
    ys, xs = np.nonzero(masks[at[2], 1])
    second = click_on(masks[at[2], 1]) + [[float(xs[0]), float(ys[0])]]
    return {
        at[1]: [TrackPrompt(1, points=click_on(masks[at[1], 0]), labels=[1])],
        at[2]: [TrackPrompt(2, points=second, labels=[1, 1])],
        at[3]: [TrackPrompt(3, box=[w * 0.05, h * 0.05, w * 0.3, h * 0.35])],
    }


def _run(tracker, feats, prompts, refine, out=None):
    """Per frame: {obj_id: (logits, score, object score)} and the state after it (appended to ``out``)."""
    state = tracker.new_state(refine=refine)
    out = [] if out is None else out
    for t, f in enumerate(feats):
        if t == REMOVED_AT:
            state = tracker.remove_object(state, 2)
        state, result = tracker.step(state, f, prompts.get(t, []))
        out.append(({r.obj_id: (r.logits, r.score, r.object_score) for r in result.objects}, state))
    return out


@pytest.fixture(scope="module")
def model_and_feats(video_checkpoint):
    """SAM 2 with PR and MR (random refiner weights) and the clip's encoded frames, shared by every run."""
    model = build_sam2refiner(
        "hiera_t", SIZE, "cpu", sam2_checkpoint=video_checkpoint, modules=RefinerSwitches(False, True, True), seed=3
    )
    model.sam2.max_obj_ptrs_in_encoder = MAX_POINTERS
    frames, masks = _clip()
    tracker = StreamingTracker(model)
    return model, [tracker.encode_frame(f) for f in frames], _prompts(frames, masks)


@pytest.mark.parametrize("refine", [False, True], ids=["refiner_off", "pr_mr"])
def test_objects_tracked_together_equal_objects_tracked_one_by_one(model_and_feats, refine):
    model, feats, prompts = model_and_feats
    batches: dict[int, list[int]] = {}  # frame -> batch size of each memory attention call
    original_attention = model.sam2.memory_attention.forward

    def attention_spy(*args, **kwargs):
        batches.setdefault(len(together), []).append(kwargs["memory"].shape[1])
        return original_attention(*args, **kwargs)

    ours = _run(StreamingTracker(model, batch_objects=False), feats, prompts, refine)
    together = []
    model.sam2.memory_attention.forward = attention_spy
    try:
        _run(StreamingTracker(model, batch_objects=True), feats, prompts, refine, together)
    finally:
        del model.sam2.memory_attention.forward

    for t, ((a, state_a), (b, state_b)) in enumerate(zip(ours, together)):
        present = [k for k, start in ADDED_AT.items() if start <= t and not (k == 2 and t >= REMOVED_AT)]
        assert sorted(a) == sorted(b) == present
        for obj_id in a:
            diff = float((a[obj_id][0] - b[obj_id][0]).abs().max())
            assert diff <= ATOL, f"frame {t}, object {obj_id}: logits differ by {diff}"
            assert a[obj_id][1] == pytest.approx(b[obj_id][1], abs=ATOL)
            assert a[obj_id][2] == pytest.approx(b[obj_id][2], abs=ATOL)
        for obj_id, obj_a in state_a.objects.items():  # what later frames read is the same too
            obj_b = state_b.objects[obj_id]
            assert sorted(obj_a.cond) == sorted(obj_b.cond) and sorted(obj_a.non_cond) == sorted(obj_b.non_cond)
            for k, mem in {**obj_a.non_cond, **obj_a.cond}.items():
                other = {**obj_b.non_cond, **obj_b.cond}[k]
                assert torch.allclose(mem.obj_ptr, other.obj_ptr, atol=ATOL)
                if mem.maskmem_features is not None:  # stored in bf16: one bf16 step of tolerance
                    assert torch.allclose(mem.maskmem_features.float(), other.maskmem_features.float(), atol=2e-2)
    # Not vacuous: objects whose memories differ went through memory attention apart, lined-up ones together.
    assert batches[ADDED_AT[3] + 1] == [1, 1, 1]
    assert batches[ALL_LINED_UP] == [3] and batches[REMOVED_AT] == [2]
    # The painted-out object's mask changed once it was gone.
    before, after = ours[GONE_FROM - 1][0][2][0] > 0, ours[GONE_FROM + 2][0][2][0] > 0
    assert not torch.equal(before, after)


def test_frames_encoded_together_equal_frames_encoded_alone(model_and_feats):
    """Frames of different sessions (different sizes) share one encoder batch, each with its own features."""
    model, _, _ = model_and_feats
    tracker = StreamingTracker(model)
    small, large = clip(num_frames=1, seed=2)[0][0], clip(num_frames=1, hw=(200, 300), seed=3)[0][0]
    together = tracker.encode_frames([small, large], RefinerSwitches(False, True, True))
    for frame, feats in zip((small, large), together):
        alone = tracker.encode_frame(frame, RefinerSwitches(False, True, True))
        assert feats.orig_hw == alone.orig_hw == frame.shape[:2]
        for a, b in zip([*feats.vision_feats, feats.mr_image_term], [*alone.vision_feats, alone.mr_image_term]):
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
