"""One model, two threads (the device worker's click thread and its stream thread): the per-call hooks the tracker
and the decoder use (memory-conditioned features handed to sam2's tracking step, the decoder's captured inputs,
memory attention's timer) hold for the thread that set them only. Each is held open on this thread while another
thread tracks a clip; that thread's masks equal those of the clip tracked alone, and nothing of its leaks into this
thread's hooks."""

from __future__ import annotations

import threading

import pytest
import torch

from sam2refiner.model import build_sam2refiner
from sam2refiner.model.runtime import StageTimer
from sam2refiner.model.sam2_compat.batched_tracking import memory_conditioned
from sam2refiner.model.sam2_compat.hooks import capture_io
from sam2refiner.model.video import StreamingTracker, TrackPrompt

from .helpers import SIZE, click_on, clip

pytestmark = pytest.mark.slow  # a 5-frame clip tracked twice, two objects (about 10 s)


def _track(tracker: StreamingTracker, feats, prompts) -> list[dict[int, torch.Tensor]]:
    state, out = tracker.new_state(refine=False), []
    with torch.inference_mode():  # per thread, as each device-worker job enters it
        for t, f in enumerate(feats):
            state, result = tracker.step(state, f, prompts if t == 0 else [])
            out.append({r.obj_id: r.logits for r in result.objects})
    return out


def _on_another_thread(fn):
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001  (re-raised on the test's thread)
            box["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_a_clip_tracked_on_another_thread_ignores_the_hooks_this_thread_holds(video_checkpoint):
    model = build_sam2refiner("hiera_t", SIZE, "cpu", sam2_checkpoint=video_checkpoint, seed=3)
    tracker = StreamingTracker(model)
    frames, masks = clip(num_frames=5, seed=4)
    feats = [tracker.encode_frame(f) for f in frames]
    prompts = [TrackPrompt(k + 1, points=click_on(masks[0, k]), labels=[1]) for k in range(2)]
    alone = _track(tracker, feats, prompts)

    sam2, timings = model.sam2, {}
    not_these = torch.full((2, sam2.hidden_dim, SIZE // 16, SIZE // 16), 1e3)
    with (
        torch.inference_mode(),
        memory_conditioned(sam2, not_these),  # this thread's tracking step would take these features
        capture_io(sam2.sam_mask_decoder) as seen,
        StageTimer("cpu", timings).module(sam2.memory_attention, "memory_attention"),
    ):
        beside = _on_another_thread(lambda: _track(tracker, feats, prompts))

    assert seen == {} and timings == {}  # the other thread's decoder and memory attention calls are its own
    for t, (a, b) in enumerate(zip(alone, beside)):
        assert a.keys() == b.keys() == {1, 2}
        for obj in a:
            torch.testing.assert_close(b[obj], a[obj], rtol=0, atol=0, msg=f"frame {t}, object {obj}")
