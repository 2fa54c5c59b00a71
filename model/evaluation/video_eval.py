"""Semi-supervised video evaluation: J, F and J&F per data set, aggregated as each benchmark's toolkit does.

The segmenter is any callable
    segment(frames uint8 [T, H, W, 3], prompts {object_id: (frame_index, mask bool [H, W])})
        -> {object_id: scores [T, H, W]}   (float logits, > 0 is the object; bool masks are accepted too)
so the SAM 2 / SAM2Refiner video tracker (model/video/) and test stubs plug in the same way. Each object is
prompted with its ground-truth mask on the first frame it is annotated in (the semi-supervised setting).

Multi-object outputs are read as the official tools read a submission: ONE label map per frame (LVOS and DAVIS
read palette PNGs and compare ``label == object_id``). Overlaps are resolved by score, as sam2's VOS inference
does before it writes its PNGs (``non_overlap_masks``: at each pixel only the highest-scoring object keeps it);
equal scores (bool masks) go to the lower object id, as sam2's ``vos_inference.py`` paints its label maps.

Which frames count follows the toolkits (each at the commit named, read for this code):
    "lvos"  (LingyiHongfd/lvos-evaluation at HEAD 25cb02d, code as of c05e889 "update code for v2", 2024-05-10,
            which serves LVOS v1 and v2; ``lvos/evaluation.py`` lines 63-73, ``_evaluate_semisupervised``): per
            object, a loop over its annotated frames ``range(start, end, 5)`` of the meta's ``frame_range`` that
            skips loop index 0 (the object's first, prompted frame) and index ``frame_nums - 1`` (its last
            annotated frame). Until c05e889 the toolkit scored every frame of that loop.
    "davis" (davisvideochallenge/davis2017-evaluation at ac7c43f, ``davis2017/evaluation.py`` line 85): every
            annotated frame except the first and the last of the sequence.
Per object, J and F are means over those frames (an object with no frame left scores nan and is left out of
the means). How a data set's figures are formed (``aggregate``):
    "seen-unseen"  (lvos-evaluation's ``evaluation_method.py``, HEAD lines 139-150, the same since 457d397 of
                   2022-11-28, for v1 as for v2): J_s, F_s over the objects of seen-category sequences, J_u, F_u
                   over unseen ones (the toolkit's ``unseen_videos.txt``); J&F = (J_s + F_s + J_u + F_u) / 4,
                   J = (J_s + J_u) / 2, F = (F_s + F_u) / 2 (the paper's v2 row: 79.9 = mean(78.7, 87.9, 71.6,
                   81.5)). The default: both LVOS versions are reported this way.
    "all-objects"  (davis2017-evaluation's ``evaluation_method.py`` line 43, and lvos-evaluation's only in its first
                   weeks, Oct-Nov 2022): J and F are means over all objects, J&F = (J + F) / 2.
Both report all seven numbers (J_s ... F_u under "all-objects" as well, for the table's columns).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from sam2refiner.model.training.datasets import VIDEO_AGGREGATES as AGGREGATES  # ("seen-unseen", "all-objects")

from .metrics import boundary_f, region_j

Segmenter = Callable[[np.ndarray, dict], dict]


def evaluated_frames(sequence, obj, protocol: str) -> list[int]:
    """The frames (positions) at which ``obj`` is scored under ``protocol`` (see the module docstring)."""
    annotated = sequence.annotated_frames()
    if protocol == "lvos":
        # lvos-evaluation 25cb02d (c05e889) lvos/evaluation.py lines 69-73: over the object's annotated frames in
        # [start, end), ``if oidx == 0 or oidx == frame_nums - 1: continue``; with no meta count, the span's own
        span = [t for t in annotated if obj.start <= t < obj.end]
        count = len(span) if obj.frame_nums is None else obj.frame_nums
        return [t for i, t in enumerate(span) if i not in (0, count - 1)]
    if protocol == "davis":
        inner = annotated[1:-1]
        return inner if inner else annotated[1:] or annotated
    raise ValueError(f"protocol: expected 'lvos' or 'davis', got {protocol!r}")


def first_prompt(sequence, obj) -> tuple[int, np.ndarray]:
    """The object's GT mask on its first annotated frame where it is visible."""
    for t in sequence.annotated_frames():
        if t >= obj.start:
            mask = sequence.object_mask(t, obj.object_id)
            if mask.any():
                return t, mask
    raise ValueError(f"{sequence.name}: object {obj.object_id} is never visible in its annotations")


def label_maps(predicted: dict, shape: tuple[int, int, int]) -> np.ndarray:
    """{object_id: scores [T, H, W]} -> int32 label maps [T, H, W]: each pixel goes to the highest-scoring object
    whose score is positive (bool True counts as 1), 0 where none is; ties go to the lower object id."""
    ids = sorted(predicted)
    labels = np.zeros(shape, np.int32)
    if not ids:
        return labels
    scores = np.stack([np.asarray(predicted[k], np.float32) for k in ids])  # [K, T, H, W]; bool -> 0 / 1
    best = scores.argmax(0)  # the first (lowest id) of equal maxima
    present = np.take_along_axis(scores, best[None], 0)[0] > 0
    labels[present] = np.asarray(ids, np.int32)[best[present]]
    return labels


def evaluate_sequence(sequence, segment: Segmenter, protocol: str = "lvos") -> list[dict]:
    """Per-object {"sequence", "object", "J", "F", "unseen"} for one sequence."""
    frames = sequence.load_frames()
    prompts = {obj.object_id: first_prompt(sequence, obj) for obj in sequence.objects}
    predicted = segment(frames, prompts)
    for obj in sequence.objects:
        if obj.object_id not in predicted:
            raise ValueError(f"{sequence.name}: the segmenter returned no masks for object {obj.object_id}")
        shape = np.shape(predicted[obj.object_id])
        if shape != frames.shape[:3]:
            raise ValueError(
                f"{sequence.name}: object {obj.object_id} masks have shape {shape}, expected {frames.shape[:3]}"
            )
    labels = label_maps({obj.object_id: predicted[obj.object_id] for obj in sequence.objects}, frames.shape[:3])
    rows = []
    for obj in sequence.objects:
        js, fs = [], []
        for t in evaluated_frames(sequence, obj, protocol):
            gt = sequence.object_mask(t, obj.object_id)
            pred = labels[t] == obj.object_id
            js.append(region_j(pred, gt))
            fs.append(boundary_f(pred, gt))
        rows.append(
            {
                "sequence": sequence.name,
                "object": obj.object_id,
                "unseen": sequence.unseen,
                "J": float(np.mean(js)) if js else float("nan"),
                "F": float(np.mean(fs)) if fs else float("nan"),
            }
        )
    return rows


def summarize(rows: list[dict], aggregate: str = "seen-unseen") -> dict:
    """Percent figures of a data set from its per-object rows (see the module docstring for ``aggregate``)."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate: expected one of {AGGREGATES}, got {aggregate!r}")

    def mean(key, keep=lambda r: True):
        vals = [r[key] for r in rows if keep(r) and not np.isnan(r[key])]
        return 100 * float(np.mean(vals)) if vals else float("nan")

    seen, unseen = (lambda r: not r["unseen"]), (lambda r: r["unseen"])
    out = {"J_s": mean("J", seen), "F_s": mean("F", seen), "J_u": mean("J", unseen), "F_u": mean("F", unseen)}
    if aggregate == "seen-unseen":  # a split with no objects gives nan, as the toolkit's np.mean of [] does
        out["J"], out["F"] = (out["J_s"] + out["J_u"]) / 2, (out["F_s"] + out["F_u"]) / 2
        out["J&F"] = (out["J_s"] + out["F_s"] + out["J_u"] + out["F_u"]) / 4
    else:
        out["J"], out["F"] = mean("J"), mean("F")
        out["J&F"] = (out["J"] + out["F"]) / 2
    return {
        "J&F": out["J&F"],
        "J": out["J"],
        "F": out["F"],
        **{k: out[k] for k in ("J_s", "F_s", "J_u", "F_u")},
        "objects": len(rows),
        "aggregate": aggregate,
    }


def evaluate_video_set(
    sequences,
    segment: Segmenter,
    protocol: str = "lvos",
    progress: bool = True,
    name: str = "",
    aggregate: str = "seen-unseen",
) -> dict:
    rows: list[dict] = []
    bar = tqdm(list(sequences), desc=f"eval {name}".strip(), disable=not progress, unit="seq")
    for seq in bar:
        rows += evaluate_sequence(seq, segment, protocol)
        bar.set_postfix({"J&F": f"{summarize(rows, aggregate)['J&F']:.1f}"})
    return {**summarize(rows, aggregate), "per_object": rows}


__all__ = [
    "AGGREGATES",
    "Segmenter",
    "evaluate_sequence",
    "evaluate_video_set",
    "evaluated_frames",
    "label_maps",
    "summarize",
]
