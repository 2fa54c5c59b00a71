"""Video J / F / J&F with a stub segmenter: hand-computed sequences, frame protocols, seen / unseen split."""

import numpy as np
import pytest

from sam2refiner.model.evaluation.video_eval import (
    evaluate_sequence,
    evaluate_video_set,
    evaluated_frames,
    label_maps,
    summarize,
)
from sam2refiner.model.training.datasets import (
    VideoObject,
    VideoSequence,
    load_manifest,
    open_video_set,
    synthetic_video_set,
)
from sam2refiner.model.training.fake_layout import write_fake_layout


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


ROWS = [  # one seen object, three unseen ones: the two toolkits' J&F differ
    {"J": 1.0, "F": 0.5, "unseen": False},
    {"J": 0.5, "F": 0.5, "unseen": True},
    {"J": 0.0, "F": 0.2, "unseen": True},
    {"J": 0.4, "F": 0.8, "unseen": True},
]


def test_lvos_v1_and_davis_average_over_all_objects():
    s = summarize(ROWS, "all")
    assert s["J"] == pytest.approx(100 * 1.9 / 4) and s["F"] == pytest.approx(100 * 2.0 / 4)
    assert s["J&F"] == pytest.approx((47.5 + 50.0) / 2)
    assert s["J_s"] == pytest.approx(100.0) and s["F_s"] == pytest.approx(50.0)
    assert s["J_u"] == pytest.approx(30.0) and s["F_u"] == pytest.approx(50.0)


def test_lvos_v2_averages_seen_and_unseen_categories():
    s = summarize(ROWS, "seen-unseen")
    # J_s = 100, F_s = 50 (1 object); J_u = (50 + 0 + 40) / 3 = 30, F_u = (50 + 20 + 80) / 3 = 50
    assert (s["J_s"], s["F_s"]) == (pytest.approx(100.0), pytest.approx(50.0))
    assert (s["J_u"], s["F_u"]) == (pytest.approx(30.0), pytest.approx(50.0))
    assert s["J&F"] == pytest.approx((100 + 50 + 30 + 50) / 4)  # 57.5, where the mean over objects gives 48.75
    assert s["J"] == pytest.approx(65.0) and s["F"] == pytest.approx(50.0)
    assert s["J&F"] != pytest.approx(summarize(ROWS, "all")["J&F"])


def test_the_papers_lvos_v2_row_is_the_mean_of_its_four_columns():
    # Table 2, SAM2Refiner on LVOS v2: J&F 79.9 from J_s 78.7, F_s 87.9, J_u 71.6, F_u 81.5
    assert round((78.7 + 87.9 + 71.6 + 81.5) / 4, 1) == 79.9


def test_lvos_v2_without_unseen_objects_has_no_j_and_f():
    s = summarize([r for r in ROWS if not r["unseen"]], "seen-unseen")
    assert np.isnan(s["J&F"]) and s["J_s"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="aggregate"):
        summarize(ROWS, "mean")


def test_label_maps_give_overlaps_to_the_higher_score():
    a = np.array([[[2.0, 1.0, -1.0, 0.5]]])  # [T=1, H=1, W=4]
    b = np.array([[[1.0, 3.0, -2.0, -0.5]]])
    assert label_maps({1: a, 2: b}, (1, 1, 4)).tolist() == [[[1, 2, 0, 1]]]
    # bool masks: ties go to the lower id, as sam2's vos_inference paints its PNGs
    m1 = np.array([[[True, True, False]]])
    m2 = np.array([[[False, True, True]]])
    assert label_maps({2: m2, 1: m1}, (1, 1, 3)).tolist() == [[[1, 1, 2]]]


def test_overlapping_objects_are_scored_from_one_label_map():
    """Two objects predicted over the same pixels: only the higher-scoring one keeps them, as in a PNG."""
    labels = np.zeros((2, 10, 10), np.uint8)
    labels[:, 0:4, 0:4] = 1
    labels[:, 5:9, 5:9] = 2
    seq = VideoSequence(
        "two",
        objects=[VideoObject(1, 0, 2), VideoObject(2, 0, 2)],
        frames=np.zeros((2, 10, 10, 3), np.uint8),
        labels=labels,
    )

    def overlapping(frames, prompts):
        s1 = np.where(labels == 1, 5.0, -5.0)
        s2 = np.where(labels == 2, 5.0, -5.0)
        s2[:, 0:4, 0:2] = 9.0  # object 2 claims half of object 1 with a higher score
        return {1: s1, 2: s2}

    rows = {r["object"]: r for r in evaluate_sequence(seq, overlapping, "lvos")}
    assert rows[1]["J"] == pytest.approx(8 / 16)  # object 1 kept only the pixels object 2 did not outscore
    assert rows[2]["J"] == pytest.approx(16 / 24)


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

    assert lvos.aggregate == "seen-unseen" and open_video_set(manifest, "LVOS-v1").aggregate == "all"
    res = evaluate_video_set(lvos, from_disk, progress=False, aggregate=lvos.aggregate)
    assert res["J&F"] == pytest.approx(100.0) and res["objects"] == sum(len(s.objects) for s in lvos)
    assert not np.isnan(res["J_s"]) and not np.isnan(res["J_u"])


def test_segmenter_errors_are_named():
    seq = square_sequence()
    with pytest.raises(ValueError, match="no masks for object 1"):
        evaluate_sequence(seq, lambda f, p: {}, "lvos")
    with pytest.raises(ValueError, match="shape"):
        evaluate_sequence(seq, lambda f, p: {1: np.zeros((2, 20, 20), bool)}, "lvos")
