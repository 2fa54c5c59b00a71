"""The paper's table layouts as Markdown, from the JSON the evaluation writes.

    results = {"image": {set: {run name: {"mIoU", "mBIoU", "n"}}}, "video": {set: {model: {"J&F", "J", "F", ...}}},
               "table4": {"mode": "checkpoints" | "switches", "checkpoints": {row: path}}}

Table 1: one row per model (SAM 2 = refiner off, SAM2Refiner), mIoU / mBIoU per data set and their Average
         (the mean of the data sets' values, as the paper's "Average" column).
Table 3: clicks 1 / 2 / 5 / 10 x (mIoU, mBIoU), one column per model, averaged over the data sets.
Table 2: video, one row per model; per data set the paper's columns: J&F, J_s, F_s, J_u, F_u for LVOS v2 (a set
         whose name has "v2"), J&F, J, F for LVOS v1 and any other set. The figures themselves are formed as the
         set's ``aggregate`` says (``video_eval.summarize``; the seen/unseen mean for both LVOS versions).
Table 4: module ablation, rows SAM 2, LA, PR+MR, LA+MR, LA+PR, LA+PR+MR, averaged over the data sets; each row
         its own checkpoint (the paper's protocol) or, labelled as such, modules switched at inference on one.
"""

from __future__ import annotations

import math

from .image_eval import ABLATION, POINT_COUNTS, REFINER_ROW, SAM2_ROW


def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def _mean(values) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _average(image: dict, run: str, metric: str) -> float:
    return _mean(image[s].get(run, {}).get(metric) for s in image)


def table1(image: dict) -> str:
    sets = list(image)
    header = ["Model"] + [f"{s} {m}" for s in sets for m in ("mIoU", "mBIoU")] + ["Average mIoU", "Average mBIoU"]
    rows = []
    for label in (SAM2_ROW, REFINER_ROW):
        run = f"box|{label}"
        cells = [_fmt(image[s].get(run, {}).get(m)) for s in sets for m in ("mIoU", "mBIoU")]
        rows.append([label] + cells + [_fmt(_average(image, run, "mIoU")), _fmt(_average(image, run, "mBIoU"))])
    return "**Table 1** (box prompts)\n\n" + _markdown(header, rows)


def table3(image: dict) -> str:
    rows = []
    for k in POINT_COUNTS:
        for metric in ("mIoU", "mBIoU"):
            rows.append(
                [str(k), metric]
                + [_fmt(_average(image, f"points{k}|{label}", metric)) for label in (SAM2_ROW, REFINER_ROW)]
            )
    return "**Table 3** (point prompts, average over data sets)\n\n" + _markdown(
        ["Point Num.", "Metric", SAM2_ROW, REFINER_ROW], rows
    )


TABLE4_NOTES = {
    "checkpoints": "each row its own refiner checkpoint, trained with exactly those modules",
    "switches": "modules switched off at inference on ONE checkpoint trained with all of them, "
    "not the paper's protocol (it trains one model per row)",
}


def table4(image: dict, mode: str = "switches") -> str:
    rows = []
    for label, sw in ABLATION:
        run = f"ablation|{label}"
        marks = ["✓" if on else "" for on in (sw.la, sw.pr, sw.mr)]
        rows.append(
            [SAM2_ROW if label == SAM2_ROW else REFINER_ROW]
            + marks
            + [_fmt(_average(image, run, "mIoU")), _fmt(_average(image, run, "mBIoU"))]
        )
    note = TABLE4_NOTES[mode]
    return f"**Table 4** (module ablation, average over data sets; {note})\n\n" + _markdown(
        ["Model", "LA", "PR", "MR", "mIoU", "mBIoU"], rows
    )


# Table 2's columns as the paper lays them out: LVOS v2 with the seen / unseen split, LVOS v1 without.
VIDEO_COLUMNS = {"v1": ("J&F", "J", "F"), "v2": ("J&F", "J_s", "F_s", "J_u", "F_u")}


def video_columns(set_name: str) -> tuple[str, ...]:
    return VIDEO_COLUMNS["v2" if "v2" in set_name.lower() else "v1"]


def table2(video: dict) -> str:
    sets = list(video)
    columns = {s: video_columns(s) for s in sets}
    header = ["Methods"] + [f"{s} {c}" for s in sets for c in columns[s]]
    models = list(dict.fromkeys(m for s in sets for m in video[s]))
    rows = [[m] + [_fmt(video[s].get(m, {}).get(c)) for s in sets for c in columns[s]] for m in models]
    return "**Table 2** (video, semi-supervised, first-frame mask prompt)\n\n" + _markdown(header, rows)


def render(results: dict, tables) -> str:
    parts = []
    image = results.get("image") or {}
    if image:
        if 1 in tables:
            parts.append(table1(image))
        if 3 in tables:
            parts.append(table3(image))
        if 4 in tables:
            parts.append(table4(image, (results.get("table4") or {}).get("mode", "switches")))
    if results.get("video"):
        parts.append(table2(results["video"]))
    return "\n\n".join(parts) + "\n"


__all__ = ["TABLE4_NOTES", "VIDEO_COLUMNS", "render", "video_columns", "table1", "table2", "table3", "table4"]
