"""Refiner off, the streaming tracker equals sam2's SAM2VideoPredictor frame for frame (acceptance 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam2refiner.model import build_sam2refiner
from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.video import StreamingTracker, TrackPrompt

from .helpers import SIZE, click_on, clip, propagate, reference_predictor, reference_state

pytestmark = pytest.mark.slow  # whole video runs of sam2's predictor and ours (minutes of CPU)

ATOL = 1e-4


@pytest.fixture(scope="module")
def video_model(video_checkpoint):
    return build_sam2refiner(
        "hiera_t", SIZE, "cpu", sam2_checkpoint=video_checkpoint, modules=RefinerSwitches.off(), video=True
    )


@pytest.fixture(scope="module")
def reference(video_checkpoint):
    return reference_predictor(video_checkpoint)


@pytest.fixture(scope="module")
def video():
    return clip(num_frames=20)


def _stream(model, frames, prompts_at: dict, corrections_at: dict | None = None):
    """Runs our tracker over ``frames``; returns {frame: {obj_id: logits [H, W]}}, the prompt replies and
    {frame: {obj_id: object pointer}}."""
    tracker = StreamingTracker(model)
    state = tracker.new_state(refine=False)
    out, replies, pointers = {}, {}, {}
    for t, frame in enumerate(frames):
        feats = tracker.encode_frame(frame, state.switches)
        state, result = tracker.step(state, feats, prompts_at.get(t, []))
        out[t] = {r.obj_id: r.logits for r in result.objects}
        if t in (corrections_at or {}):
            state, reply = tracker.prompt(state, feats, corrections_at[t])
            replies[t] = {r.obj_id: r.logits for r in reply.objects}
            out[t].update(replies[t])
        pointers[t] = {k: {**o.non_cond, **o.cond}[t].obj_ptr for k, o in state.objects.items()}
    return out, replies, pointers


def _reference_pointer(state, t):
    outputs = state["output_dict_per_obj"][0]
    return {**outputs["non_cond_frame_outputs"], **outputs["cond_frame_outputs"]}[t]["obj_ptr"]


def _assert_close(ours: torch.Tensor, ref: torch.Tensor, what: str):
    diff = (ours - ref).abs().max().item()
    assert diff <= ATOL, f"{what}: max |ours - sam2| = {diff}"


def test_two_objects_second_one_added_mid_stream(video_model, reference, video, tmp_path):
    frames, masks = video
    p1 = TrackPrompt(1, points=click_on(masks[0, 0]), labels=[1])
    p2 = TrackPrompt(2, points=click_on(masks[5, 1]), labels=[1])
    ours, _, pointers = _stream(video_model, frames, {0: [p1], 5: [p2]})

    ref_state = reference_state(reference, frames, tmp_path / "a")
    reference.add_new_points_or_box(ref_state, 0, 1, points=p1.points, labels=p1.labels)
    ref1 = propagate(reference, ref_state)
    ref1_pointers = {t: _reference_pointer(ref_state, t) for t in range(len(frames))}
    ref_state = reference_state(reference, frames, tmp_path / "b")
    reference.add_new_points_or_box(ref_state, 5, 2, points=p2.points, labels=p2.labels)
    ref2 = propagate(reference, ref_state, start_frame_idx=5)
    ref2_pointers = {t: _reference_pointer(ref_state, t) for t in range(5, len(frames))}

    assert len(ref1) == len(frames) >= 20 and sorted(ref2) == list(range(5, len(frames)))
    for t in range(len(frames)):
        _assert_close(ours[t][1], ref1[t][0], f"object 1, frame {t}")
        _assert_close(pointers[t][1], ref1_pointers[t], f"object 1 pointer, frame {t}")
        if t >= 5:
            _assert_close(ours[t][2], ref2[t][0], f"object 2, frame {t}")
            _assert_close(pointers[t][2], ref2_pointers[t], f"object 2 pointer, frame {t}")
        else:
            assert 2 not in ours[t]
    # Not a vacuous comparison: the object is there and the masks move with it.
    assert (ours[0][1] > 0).any() and not torch.equal(ours[0][1] > 0, ours[len(frames) - 1][1] > 0)


def test_corrective_click_on_a_tracked_frame(video_model, reference, video, tmp_path):
    frames, masks = video
    p1 = TrackPrompt(1, points=click_on(masks[0, 0]), labels=[1])
    fix_at = 8
    ys, xs = np.nonzero(~masks[fix_at, 0])
    correction = TrackPrompt(1, points=[click_on(masks[fix_at, 0])[0], [float(xs[0]), float(ys[0])]], labels=[1, 0])
    ours, replies, pointers = _stream(video_model, frames, {0: [p1]}, {fix_at: [correction]})

    ref_state = reference_state(reference, frames, tmp_path / "c")
    reference.add_new_points_or_box(ref_state, 0, 1, points=p1.points, labels=p1.labels)
    before = propagate(reference, ref_state, max_frame_num_to_track=fix_at)
    _, _, fixed = reference.add_new_points_or_box(
        ref_state, fix_at, 1, points=correction.points, labels=correction.labels
    )
    after = propagate(reference, ref_state, start_frame_idx=fix_at)

    _assert_close(replies[fix_at][1], fixed[0, 0], "the correction's reply")
    for t in range(len(frames)):
        ref = before[t] if t < fix_at else after[t]
        _assert_close(ours[t][1], ref[0], f"frame {t}")
    for t in range(fix_at, len(frames)):
        _assert_close(pointers[t][1], _reference_pointer(ref_state, t), f"pointer, frame {t}")
    # The correction changed the tracked frame's mask.
    assert not torch.allclose(replies[fix_at][1], before[fix_at][0], atol=1e-2)


def test_mask_prompt_with_small_holes_is_filled_as_sam2_fills_it(video_checkpoint, reference, tmp_path):
    """sam2's video builder fills holes of up to 8 low-res pixels (fill_hole_area=8) in the masks it stores and
    returns, and encodes the prompted frame's memory from the filled mask; model/sam2_compat/fill_holes.py makes that run
    without sam2's extension, for sam2 and for our tracker alike. Without filling the outputs would differ."""
    frames, masks = clip(num_frames=4)
    prompt = masks[0, 0].copy()
    ys, xs = np.nonzero(prompt)
    cy, cx = int(ys.mean()), int(xs.mean())
    prompt[cy - 12 : cy + 12, cx - 12 : cx + 12] = True
    prompt[cy - 5 : cy + 5, cx - 5 : cx + 5] = False  # a hole of about 2x3 low-res pixels
    model = build_sam2refiner(
        "hiera_t", SIZE, "cpu", sam2_checkpoint=video_checkpoint, modules=RefinerSwitches.off(), video=True
    )

    def ours(fill_hole_area):
        tracker = StreamingTracker(model, fill_hole_area=fill_hole_area)
        state, out = tracker.new_state(refine=False), {}
        for t, frame in enumerate(frames):
            state, result = tracker.step(
                state, tracker.encode_frame(frame), [TrackPrompt(1, mask=prompt)] if t == 0 else []
            )
            out[t] = result.objects[0].logits
        return out

    filled, unfilled = ours(8), ours(0)
    ref_state = reference_state(reference, frames, tmp_path / "holes")
    reference.add_new_mask(ref_state, 0, 1, prompt)
    ref = propagate(reference, ref_state)
    for t in range(len(frames)):
        _assert_close(filled[t], ref[t][0], f"frame {t}")
    assert (filled[0][cy, cx] > 0) and (unfilled[0][cy, cx] <= 0)  # the hole was filled on the prompted frame
    diffs = [float((filled[t] - unfilled[t]).abs().max()) for t in range(len(frames))]
    assert diffs[0] > 1 and diffs[1] > ATOL, diffs  # frame 1 tells filled from unfilled memory apart, too


def test_three_objects_clicked_together_tracked_in_one_batch(video_model, reference, tmp_path):
    """Three objects prompted on frame 0 (lined-up memories: one memory attention batch on every tracked frame)
    against sam2's predictor holding the three in one inference state."""
    frames, masks = clip(num_frames=10, seed=7)
    h, w = frames.shape[1:3]
    prompts = [
        TrackPrompt(1, points=click_on(masks[0, 0]), labels=[1]),
        TrackPrompt(2, points=click_on(masks[0, 1]), labels=[1]),
        TrackPrompt(3, box=[w * 0.05, h * 0.05, w * 0.35, h * 0.4]),
    ]
    batches = []
    original = video_model.sam2.memory_attention.forward

    def spy(*args, **kwargs):
        batches.append(kwargs["memory"].shape[1])
        return original(*args, **kwargs)

    video_model.sam2.memory_attention.forward = spy
    try:
        ours, _, pointers = _stream(video_model, frames, {0: prompts})
    finally:
        del video_model.sam2.memory_attention.forward

    ref_state = reference_state(reference, frames, tmp_path / "three")
    for p in prompts:
        reference.add_new_points_or_box(ref_state, 0, p.obj_id, points=p.points, labels=p.labels, box=p.box)
    ref = propagate(reference, ref_state)
    for t in range(len(frames)):
        for k, p in enumerate(prompts):
            _assert_close(ours[t][p.obj_id], ref[t][k], f"object {p.obj_id}, frame {t}")
    assert batches == [3] * (len(frames) - 1)  # every tracked frame: the three objects in one batch
