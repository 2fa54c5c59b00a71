"""Video J / F / J&F with a stub segmenter: hand-computed sequences, frame protocols, seen / unseen split."""

import numpy as np
import pytest

from model.evaluation.video_eval import evaluate_sequence, evaluate_video_set, evaluated_frames, summarize
from model.training.datasets import VideoObject, VideoSequence, load_manifest, open_video_set, synthetic_video_set
from model.training.fake_layout import write_fake_layout


def square_sequence(unseen=False):
    """3 frames of 20x20, object 1 = a 4x4 square at rows/cols 5..8 in every frame."""
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[:, 5:9, 5:9] = 1
    frames = np.zeros((3, 20, 20, 3), np.uint8)
    return VideoSequence("sq", objects=[VideoObject(1, 0, 3)], unseen=unseen, frames=frames, labels=labels)


def stub(frames, prompts):
    """Frame 0: the prompt itself; frame 1: the square one row lower; frame 2: nothing."""
    first, mask = prompts[1]
    assert first == 0 and mask.sum() == 16  # prompted with the GT on the first frame
    out = np.zeros(frames.shape[:3], bool)
    out[0] = mask
    out[1] = np.roll(mask, 1, axis=0)
    return {1: out}


def test_j_and_f_by_hand_under_both_protocols():
    seq = square_sequence()
    # frame 1: 12 shared rows-pixels of 20 in the union -> J = 12/20; the contours are within 1 px -> F = 1
    lvos = evaluate_sequence(seq, stub, "lvos")[0]
    assert lvos["J"] == pytest.approx((1 + 12 / 20 + 0) / 3)
    assert lvos["F"] == pytest.approx((1 + 1 + 0) / 3)
    davis = evaluate_sequence(seq, stub, "davis")[0]  # first and last frames are not counted
    assert davis["J"] == pytest.approx(12 / 20) and davis["F"] == pytest.approx(1.0)
    assert evaluated_frames(seq, seq.objects[0], "davis") == [1]


def test_lvos_counts_from_the_objects_first_frame():
    seq = square_sequence()
    seq.objects = [VideoObject(1, 1, 3)]
    assert evaluated_frames(seq, seq.objects[0], "lvos") == [1, 2]


def test_seen_unseen_split_and_means_over_objects():
    rows = [
        {"J": 1.0, "F": 0.5, "unseen": False},
        {"J": 0.5, "F": 0.5, "unseen": True},
        {"J": 0.0, "F": 0.2, "unseen": True},
    ]
    s = summarize(rows)
    assert s["J"] == pytest.approx(50.0) and s["F"] == pytest.approx(40.0) and s["J&F"] == pytest.approx(45.0)
    assert s["J_s"] == pytest.approx(100.0) and s["F_s"] == pytest.approx(50.0)
    assert s["J_u"] == pytest.approx(25.0) and s["F_u"] == pytest.approx(35.0)


def gt_segmenter(sequence_by_frames):
    def segment(frames, prompts):
        seq = sequence_by_frames[frames.tobytes()[:4096]]
        return {obj: np.stack([seq.object_mask(t, obj) for t in range(frames.shape[0])]) for obj in prompts}

    return segment


def test_perfect_and_empty_segmenters_on_synthetic_videos():
    seqs = synthetic_video_set(num_sequences=2, num_frames=4, size=64)
    lookup = {s.frames.tobytes()[:4096]: s for s in seqs}
    perfect = evaluate_video_set(seqs, gt_segmenter(lookup), progress=False)
    assert perfect["J&F"] == pytest.approx(100.0) and perfect["J_u"] == pytest.approx(100.0)
    empty = evaluate_video_set(seqs, lambda f, p: {o: np.zeros(f.shape[:3], bool) for o in p}, progress=False)
    assert empty["J"] == 0.0 and empty["F"] == 0.0


def test_reads_the_lvos_layout_from_disk(tmp_path):
    manifest = load_manifest(write_fake_layout(tmp_path, images_per_set=1, size=64, videos=2, frames=4))
    lvos = open_video_set(manifest, "LVOS-v2")

    def from_disk(frames, prompts):
        seq = next(s for s in lvos if np.array_equal(s.load_frames(), frames))
        return {o: np.stack([seq.object_mask(t, o) for t in range(len(frames))]) for o in prompts}

    res = evaluate_video_set(lvos, from_disk, progress=False)
    assert res["J&F"] == pytest.approx(100.0) and res["objects"] == sum(len(s.objects) for s in lvos)
    assert not np.isnan(res["J_s"]) and not np.isnan(res["J_u"])


def test_segmenter_errors_are_named():
    seq = square_sequence()
    with pytest.raises(ValueError, match="no masks for object 1"):
        evaluate_sequence(seq, lambda f, p: {}, "lvos")
    with pytest.raises(ValueError, match="shape"):
        evaluate_sequence(seq, lambda f, p: {1: np.zeros((2, 20, 20), bool)}, "lvos")
