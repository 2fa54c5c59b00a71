"""Semi-supervised video evaluation: J, F and J&F per data set, with LVOS's seen / unseen split.

The segmenter is any callable
    segment(frames uint8 [T, H, W, 3], prompts {object_id: (frame_index, mask bool [H, W])}) -> {object_id: bool [T, H, W]}
so the SAM 2 / SAM2Refiner video tracker (model/video/) and test stubs plug in the same way. Each object is
prompted with its ground-truth mask on the first frame it is annotated in (the semi-supervised setting).

Which frames count follows the toolkits:
    "lvos"  (LVOS-Benchmark): every annotated frame from the object's first one (included) up to its end
            frame (excluded), i.e. ``range(start, end, 5)`` over LVOS's annotations every 5th frame;
    "davis" (davis2017-evaluation): every annotated frame except the first and the last of the sequence.
Per object, J and F are means over those frames; a data set's J and F are means over all its objects, and
J&F is their mean. Seen / unseen means are over the objects of seen / unseen sequences.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from tqdm import tqdm

from .metrics import boundary_f, region_j

Segmenter = Callable[[np.ndarray, dict], dict]


def evaluated_frames(sequence, obj, protocol: str) -> list[int]:
    annotated = sequence.annotated_frames()
    if protocol == "lvos":
        return [t for t in annotated if obj.start <= t < obj.end]
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


def evaluate_sequence(sequence, segment: Segmenter, protocol: str = "lvos") -> list[dict]:
    """Per-object {"sequence", "object", "J", "F", "unseen"} for one sequence."""
    frames = sequence.load_frames()
    prompts = {obj.object_id: first_prompt(sequence, obj) for obj in sequence.objects}
    predicted = segment(frames, prompts)
    rows = []
    for obj in sequence.objects:
        if obj.object_id not in predicted:
            raise ValueError(f"{sequence.name}: the segmenter returned no masks for object {obj.object_id}")
        pred = np.asarray(predicted[obj.object_id], bool)
        if pred.shape != frames.shape[:3]:
            raise ValueError(f"{sequence.name}: object {obj.object_id} masks have shape {pred.shape}, expected {frames.shape[:3]}")
        js, fs = [], []
        for t in evaluated_frames(sequence, obj, protocol):
            gt = sequence.object_mask(t, obj.object_id)
            js.append(region_j(pred[t], gt))
            fs.append(boundary_f(pred[t], gt))
        rows.append({
            "sequence": sequence.name, "object": obj.object_id, "unseen": sequence.unseen,
            "J": float(np.mean(js)) if js else float("nan"), "F": float(np.mean(fs)) if fs else float("nan"),
        })
    return rows


def summarize(rows: list[dict]) -> dict:
    """Percent means over objects: J, F, J&F, and J_s/F_s/J_u/F_u over seen / unseen objects."""

    def mean(key, keep=lambda r: True):
        vals = [r[key] for r in rows if keep(r) and not np.isnan(r[key])]
        return 100 * float(np.mean(vals)) if vals else float("nan")

    j, f = mean("J"), mean("F")
    out = {"J&F": (j + f) / 2, "J": j, "F": f, "objects": len(rows)}
    out["J_s"], out["F_s"] = mean("J", lambda r: not r["unseen"]), mean("F", lambda r: not r["unseen"])
    out["J_u"], out["F_u"] = mean("J", lambda r: r["unseen"]), mean("F", lambda r: r["unseen"])
    return out


def evaluate_video_set(sequences, segment: Segmenter, protocol: str = "lvos", progress: bool = True, name: str = "") -> dict:
    rows: list[dict] = []
    bar = tqdm(list(sequences), desc=f"eval {name}".strip(), disable=not progress, unit="seq")
    for seq in bar:
        rows += evaluate_sequence(seq, segment, protocol)
        s = summarize(rows)
        bar.set_postfix({"J&F": f"{s['J&F']:.1f}"})
    return {**summarize(rows), "per_object": rows}


__all__ = ["evaluate_video_set", "evaluate_sequence", "summarize", "evaluated_frames", "Segmenter"]
