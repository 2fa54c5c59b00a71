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
    DatasetError,
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


def test_davis_scores_all_frames_but_the_sequences_first_and_last():
    seq = square_sequence()
    # frame 1: 12 shared pixels of 20 in the union -> J = 12/20; the contours are within 1 px -> F = 1
    davis = evaluate_sequence(seq, stub, "davis")[0]
    assert davis["J"] == pytest.approx(12 / 20) and davis["F"] == pytest.approx(1.0)
    assert evaluated_frames(seq, seq.objects[0], "davis") == [1]


def rectangle_object():
    """3 frames of 20x20; object 1 = a 4x8 rectangle, rows 5..8, cols 4..11, in every frame."""
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[:, 5:9, 4:12] = 1
    frames = np.zeros((3, 20, 20, 3), np.uint8)
    return VideoSequence("rect", objects=[VideoObject(1, 0, 3)], frames=frames, labels=labels)


def first_and_last_perfect_middle_half(frames, prompts):
    """Frames 0 and 2 exactly the GT; frame 1 only the rectangle's left half (cols 4..7)."""
    _, mask = prompts[1]
    out = np.stack([mask, mask, mask])
    out[1, :, 8:] = False
    return {1: out}


def test_lvos_scores_neither_the_objects_first_nor_its_last_annotated_frame():
    """lvos-evaluation at HEAD (25cb02d, lvos/evaluation.py lines 70-73) skips, per object, the first and the last
    of its annotated frames: of the three only the middle one, half right, is scored."""
    seq = rectangle_object()
    assert evaluated_frames(seq, seq.objects[0], "lvos") == [1]
    row = evaluate_sequence(seq, first_and_last_perfect_middle_half, "lvos")[0]
    # J of frame 1: 16 of the GT's 32 pixels, nothing outside it -> 16 / 32
    assert row["J"] == pytest.approx(0.5)
    # F of frame 1 (DAVIS's one-pixel contours, match radius ceil(0.008 * 28.3) = 1, a 4-neighbour cross):
    # a h x w box's contour is its right column and bottom row (h + w - 1 px) plus the column left of it and the
    # row above it (h + 1 + w px): GT 4x8 -> 24 px, prediction 4x4 -> 16 px. The prediction's contour lies on the
    # GT's but for its right column x=7, rows 5..7, where only row 6 has no GT contour pixel within the cross:
    # P = 15/16. The GT's right part (rows 4 and 8 at x=9..11, x=11 at rows 5..7) has no prediction pixel
    # within the cross: 9 of 24 unmatched, R = 15/24. F = 2PR / (P + R) = 3/4.
    assert row["F"] == pytest.approx(0.75)
    # (scoring every annotated frame, as before, gave J = (1 + 0.5 + 1) / 3 and F = (1 + 0.75 + 1) / 3)


def test_lvos_skips_the_loop_index_the_metas_frame_count_names():
    """The toolkit skips loop index 0 and index frame_nums - 1 over the object's annotated frames in
    [start, end): with no count the span's own last frame goes; with a meta count one larger than the span
    (a meta whose end is the last annotated frame) nothing past index 0 is skipped, as in the toolkit."""
    labels = np.ones((6, 8, 8), np.uint8)
    seq = VideoSequence("six", objects=[VideoObject(1, 1, 5)], frames=np.zeros((6, 8, 8, 3), np.uint8), labels=labels)
    assert evaluated_frames(seq, seq.objects[0], "lvos") == [2, 3]
    seq.objects = [VideoObject(1, 1, 5, frame_nums=5)]
    assert evaluated_frames(seq, seq.objects[0], "lvos") == [2, 3, 4]
    seq.objects = [VideoObject(1, 1, 5, frame_nums=4)]
    assert evaluated_frames(seq, seq.objects[0], "lvos") == [2, 3]


def test_lvos_frames_of_a_set_read_from_disk(tmp_path):
    # fake layout, 4 frames all annotated: meta start 0, end 3 (exclusive), frame_nums 4 -> the loop visits
    # frames 0, 1, 2 and skips index 0 (frame 3, index 3, is past the end): frames 1 and 2 are scored
    manifest = load_manifest(write_fake_layout(tmp_path, images_per_set=0, size=32, videos=1, frames=4))
    seq = open_video_set(manifest, "LVOS-v1").sequences[0]
    assert [evaluated_frames(seq, obj, "lvos") for obj in seq.objects] == [[1, 2]] * len(seq.objects)


ROWS = [  # one seen object, three unseen ones: the category mean and the mean over objects differ
    {"J": 1.0, "F": 0.5, "unseen": False},
    {"J": 0.5, "F": 0.5, "unseen": True},
    {"J": 0.0, "F": 0.2, "unseen": True},
    {"J": 0.4, "F": 0.8, "unseen": True},
]


def test_lvos_averages_seen_and_unseen_categories():
    """lvos-evaluation's evaluation_method.py (HEAD 25cb02d lines 139-150, the same since 457d397 of 2022-11-28)
    for v1 and v2 alike."""
    s = summarize(ROWS)
    # J_s = 100, F_s = 50 (1 object); J_u = (50 + 0 + 40) / 3 = 30, F_u = (50 + 20 + 80) / 3 = 50
    assert (s["J_s"], s["F_s"]) == (pytest.approx(100.0), pytest.approx(50.0))
    assert (s["J_u"], s["F_u"]) == (pytest.approx(30.0), pytest.approx(50.0))
    assert s["J&F"] == pytest.approx((100 + 50 + 30 + 50) / 4)  # 57.5, where the mean over objects gives 48.75
    assert s["J"] == pytest.approx(65.0) and s["F"] == pytest.approx(50.0)
    assert s["aggregate"] == "seen-unseen"


def test_more_seen_than_unseen_objects_still_weigh_the_categories_equally():
    rows = [{"J": j, "F": f, "unseen": False} for j, f in ((0.9, 0.8), (0.7, 0.6), (0.8, 1.0))]
    rows.append({"J": 0.2, "F": 0.4, "unseen": True})
    s = summarize(rows)  # the default
    # J_s = 80, F_s = 80, J_u = 20, F_u = 40 -> J&F = 55, J = 50, F = 60 (over objects: J 65, F 70, J&F 67.5)
    assert (s["J&F"], s["J"], s["F"]) == (pytest.approx(55.0), pytest.approx(50.0), pytest.approx(60.0))


def test_both_lvos_versions_default_to_the_seen_unseen_mean(tmp_path):
    manifest = load_manifest(write_fake_layout(tmp_path, images_per_set=0, size=32, videos=2, frames=4))
    assert open_video_set(manifest, "LVOS-v1").aggregate == "seen-unseen"
    assert open_video_set(manifest, "LVOS-v2").aggregate == "seen-unseen"


def test_the_mean_over_all_objects_is_an_option_by_its_own_name():
    """davis2017-evaluation's J&F (and lvos-evaluation's in Oct-Nov 2022): (J + F) / 2 over all objects."""
    s = summarize(ROWS, "all-objects")
    assert s["J"] == pytest.approx(100 * 1.9 / 4) and s["F"] == pytest.approx(100 * 2.0 / 4)
    assert s["J&F"] == pytest.approx((47.5 + 50.0) / 2)
    assert s["J_s"] == pytest.approx(100.0) and s["J_u"] == pytest.approx(30.0)
    with pytest.raises(ValueError, match="'seen-unseen', 'all-objects'"):
        summarize(ROWS, "all")


def test_the_papers_lvos_v2_row_is_the_mean_of_its_four_columns():
    # Table 2, SAM2Refiner on LVOS v2: J&F 79.9 from J_s 78.7, F_s 87.9, J_u 71.6, F_u 81.5
    assert round((78.7 + 87.9 + 71.6 + 81.5) / 4, 1) == 79.9


def test_lvos_without_unseen_objects_has_no_j_and_f():
    s = summarize([r for r in ROWS if not r["unseen"]], "seen-unseen")
    assert np.isnan(s["J&F"]) and s["J_s"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="aggregate"):
        summarize(ROWS, "mean")


def test_a_seen_unseen_set_needs_its_unseen_list(tmp_path):
    manifest = load_manifest(write_fake_layout(tmp_path, images_per_set=0, size=32, videos=2, frames=4))
    entry = manifest["video"]["LVOS-v1"]
    del entry["unseen_list"]
    with pytest.raises(DatasetError, match="unseen_list"):
        open_video_set(manifest, "LVOS-v1")
    entry["aggregate"] = "all-objects"
    assert open_video_set(manifest, "LVOS-v1").aggregate == "all-objects"


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
    labels = np.zeros((3, 10, 10), np.uint8)
    labels[:, 0:4, 0:4] = 1
    labels[:, 5:9, 5:9] = 2
    seq = VideoSequence(
        "two",
        objects=[VideoObject(1, 0, 3), VideoObject(2, 0, 3)],
        frames=np.zeros((3, 10, 10, 3), np.uint8),
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

    assert lvos.aggregate == "seen-unseen"
    res = evaluate_video_set(lvos, from_disk, progress=False, aggregate=lvos.aggregate)
    assert res["J&F"] == pytest.approx(100.0) and res["objects"] == sum(len(s.objects) for s in lvos)
    assert not np.isnan(res["J_s"]) and not np.isnan(res["J_u"])


def test_segmenter_errors_are_named():
    seq = square_sequence()
    with pytest.raises(ValueError, match="no masks for object 1"):
        evaluate_sequence(seq, lambda f, p: {}, "lvos")
    with pytest.raises(ValueError, match="shape"):
        evaluate_sequence(seq, lambda f, p: {1: np.zeros((2, 20, 20), bool)}, "lvos")
