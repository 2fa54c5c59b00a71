"""Image evaluation protocols: box prompts (Table 1), 1/2/5/10 clicks (Table 3), module ablation (Table 4).

Every image is encoded once (with Localization Augment's quadrants) and all runs are decoded from the same
features, so refiner-off rows (SAM 2's own path, operation for operation) and refiner-on rows differ only in
the modules. Each object of an image is one sample (the real test sets have one object per image).

Table 4 as the paper runs it has one refiner checkpoint per row, each trained with exactly that row's modules
(``model.evaluate --ablation-checkpoints``); switching modules off at inference on one checkpoint is also
available and is labelled so in the printed table.

Prompts follow the usual protocols: the GT mask's tight box (HQ-SAM's Table 1 evaluation, one output mask);
clicks from the GT (``model.training.prompts.evaluation_points``): with one click SAM's three candidates are
asked for and the highest-scoring one is kept, with more clicks one mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.training.prompts import evaluation_points, mask_box

from .metrics import boundary_iou, mask_iou


@dataclass(frozen=True)
class ImageRun:
    """One row of a table: how to prompt (``box`` or ``points`` with ``num_points``) and which modules run."""

    name: str
    prompt: str  # "box" | "points"
    switches: RefinerSwitches
    num_points: int = 0


def predict_object(predictor, features, mask: np.ndarray, run: ImageRun, seed: int) -> np.ndarray:
    """The predicted binary mask [H, W] of one GT object under ``run``'s protocol."""
    if run.prompt == "box":
        masks, _, _ = predictor.predict_on_features(
            features, box=mask_box(mask)[None], multimask_output=False, refine=run.switches
        )
        return masks[0, 0].cpu().numpy()
    points = evaluation_points(mask, run.num_points, seed)
    multi = run.num_points == 1
    masks, scores, _ = predictor.predict_on_features(
        features,
        point_coords=points[None],
        point_labels=np.ones((1, len(points)), np.int32),
        multimask_output=multi,
        refine=run.switches,
    )
    best = int(scores[0].argmax()) if multi else 0
    return masks[0, best].cpu().numpy()


@dataclass
class RunScores:
    iou: list
    biou: list

    def summary(self) -> dict:
        n = len(self.iou)
        return {
            "mIoU": 100 * float(np.mean(self.iou)) if n else float("nan"),
            "mBIoU": 100 * float(np.mean(self.biou)) if n else float("nan"),
            "n": n,
        }


def evaluate_image_set(
    predictor, dataset, runs: list[ImageRun], seed: int = 0, progress: bool = True, name: str = ""
) -> dict:
    """{run name: {"mIoU", "mBIoU", "n"}} on one data set (percent, as the paper prints them)."""
    scores = {run.name: RunScores([], []) for run in runs}
    bar = tqdm(range(len(dataset)), desc=f"eval {name}".strip(), disable=not progress, unit="img")
    first = runs[0].name
    for i in bar:
        item = dataset[i]
        features = predictor.encode([item["image"]])
        for k, gt in enumerate(np.asarray(item["masks"], bool)):
            if not gt.any():
                continue
            done: dict = {}  # runs that differ only by name (e.g. Table 4's and Table 1's SAM 2 rows) run once
            for run in runs:
                key = (run.prompt, run.switches, run.num_points)
                if key not in done:
                    pred = predict_object(predictor, features, gt, run, seed=seed * 1_000_003 + i * 101 + k)
                    done[key] = (mask_iou(pred, gt), boundary_iou(pred, gt))
                scores[run.name].iou.append(done[key][0])
                scores[run.name].biou.append(done[key][1])
        running = scores[first].summary()
        bar.set_postfix(mIoU=f"{running['mIoU']:.1f}", mBIoU=f"{running['mBIoU']:.1f}", run=first)
    return {name_: s.summary() for name_, s in scores.items()}


# The runs behind each table; names are the rows the tables print.
SAM2_ROW = "SAM 2"
REFINER_ROW = "SAM2Refiner"
POINT_COUNTS = (1, 2, 5, 10)
# Table 4's rows as the paper lays them out (SAM 2, then SAM2Refiner with these modules).
ABLATION = (
    (SAM2_ROW, RefinerSwitches.off()),
    ("LA", RefinerSwitches(True, False, False)),
    ("PR+MR", RefinerSwitches(False, True, True)),
    ("LA+MR", RefinerSwitches(True, False, True)),
    ("LA+PR", RefinerSwitches(True, True, False)),
    ("LA+PR+MR", RefinerSwitches(True, True, True)),
)
ABLATION_LABELS = {label: sw for label, sw in ABLATION}


def ablation_run(label: str, switches: RefinerSwitches) -> ImageRun:
    """Table 4's protocol for one row: box prompts, the row's modules."""
    return ImageRun(f"ablation|{label}", "box", switches)


def table_runs(tables, available: RefinerSwitches, ablation_by_switching: bool = True) -> list[ImageRun]:
    """The runs tables 1, 3 and 4 need (each once), limited to the modules the model has. Table 4's rows are
    runs of this model only when ``ablation_by_switching`` (modules switched off at inference); otherwise each
    row is its own checkpoint's run (``model.evaluate`` adds them)."""
    runs: dict[str, ImageRun] = {}

    def add(run: ImageRun):
        runs.setdefault(run.name, run)

    if 1 in tables:
        add(ImageRun(f"box|{SAM2_ROW}", "box", RefinerSwitches.off()))
        add(ImageRun(f"box|{REFINER_ROW}", "box", available))
    if 3 in tables:
        for k in POINT_COUNTS:
            add(ImageRun(f"points{k}|{SAM2_ROW}", "points", RefinerSwitches.off(), k))
            add(ImageRun(f"points{k}|{REFINER_ROW}", "points", available, k))
    if 4 in tables:
        for label, sw in ABLATION:
            if (
                ablation_by_switching or not sw.any()
            ) and sw & available == sw:  # a row needs all its modules; a missing one is not silently dropped
                add(ablation_run(label, sw))
    return list(runs.values())


__all__ = [
    "ABLATION",
    "ABLATION_LABELS",
    "POINT_COUNTS",
    "REFINER_ROW",
    "SAM2_ROW",
    "ImageRun",
    "ablation_run",
    "evaluate_image_set",
    "predict_object",
    "table_runs",
]
