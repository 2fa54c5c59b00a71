"""Evaluate SAM2Refiner (and SAM 2, the refiner switched off) with the paper's protocols and metrics.

    python -m sam2refiner.model.evaluate --manifest configs/data/hqseg44k.yaml --config hiera_l \
        --sam2-checkpoint weights/sam2.1_hiera_large.pt --refiner-checkpoint runs/sam2refiner_hiera_l/refiner.safetensors \
        --tables 1 3 4 --video-sets LVOS-v1 LVOS-v2 --out results/ \
        --ablation-checkpoints LA=runs/ablation_la/refiner.safetensors PR+MR=runs/ablation_pr_mr/refiner.safetensors \
            LA+MR=runs/ablation_la_mr/refiner.safetensors LA+PR=runs/ablation_la_pr/refiner.safetensors \
            LA+PR+MR=runs/sam2refiner_hiera_l/refiner.safetensors

Prints Table 1 (box prompts, mIoU / mBIoU per data set and Average), Table 3 (1/2/5/10 clicks), Table 4 (module
ablation) and Table 2 (video: J&F, J, F for LVOS v1; J&F, J_s, F_s, J_u, F_u for LVOS v2) as Markdown, and writes
results.json + results.md. Table 4 takes one checkpoint per row (``--ablation-checkpoints``, the paper's
protocol); without them its rows switch modules off at inference on ``--refiner-checkpoint``, and the table
says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np


def tracker_segmenter(model, refine):
    """A ``video_eval`` segmenter on the streaming tracker (model/video): every frame once, objects prompted
    with their GT mask on their first frame. Returns float16 logits (the evaluation resolves overlaps by score);
    frames before an object's prompt hold -inf."""
    from sam2refiner.model.video.tracker import StreamingTracker, TrackPrompt

    tracker = StreamingTracker(model)

    def segment(frames: np.ndarray, prompts: dict) -> dict:
        state = tracker.new_state(refine=refine)
        out = {obj: np.full(frames.shape[:3], -np.inf, np.float16) for obj in prompts}
        for t in range(frames.shape[0]):
            feats = tracker.encode_frame(frames[t])
            now = [TrackPrompt(obj, mask=mask) for obj, (first, mask) in prompts.items() if first == t]
            state, result = tracker.step(state, feats, now)
            for r in result.objects:
                if r.obj_id in out:
                    out[r.obj_id][t] = r.logits.clamp(-6e4, 6e4).cpu().numpy()
        return out

    return segment


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m sam2refiner.model.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", required=True, help="data set manifest (YAML/JSON; see configs/data/hqseg44k.yaml)")
    p.add_argument("--config", default="hiera_l", help="SAM 2.1 config: hiera_t, hiera_s, hiera_b+, hiera_l")
    p.add_argument("--image-size", type=int, default=1024)
    p.add_argument("--sam2-checkpoint", default=None, help="official SAM 2.1 checkpoint (default: random weights)")
    p.add_argument("--refiner-checkpoint", default=None, help="trained refiner (model.train's refiner.safetensors)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--sets", nargs="*", default=None, help="image test sets from the manifest (default: all)")
    p.add_argument("--tables", nargs="*", type=int, default=[1, 3, 4], choices=[1, 3, 4])
    p.add_argument("--video-sets", nargs="*", default=[], help="video sets from the manifest (e.g. LVOS-v1 LVOS-v2)")
    p.add_argument("--video-protocol", default="lvos", choices=["lvos", "davis"], help="which frames count")
    p.add_argument(
        "--ablation-checkpoints",
        nargs="*",
        default=[],
        metavar="ROW=PATH",
        help="Table 4: one refiner checkpoint per row, trained with exactly its modules; rows: "
        "LA, PR+MR, LA+MR, LA+PR, LA+PR+MR (rows left out print '-')",
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images / sequences per set")
    p.add_argument("--seed", type=int, default=0, help="seed of the click sampling (Table 3)")
    p.add_argument("--out", default=None, help="folder for results.json and results.md")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


class _Head:
    """The first ``limit`` items of a data set."""

    def __init__(self, data, limit):
        self.data, self.n = data, len(data) if limit is None else min(limit, len(data))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i >= self.n:
            raise IndexError(i)
        return self.data[i]


def parse_ablation_checkpoints(items) -> dict:
    """["LA=path", ...] -> {"LA": "path", ...}, rows checked against Table 4's."""
    from sam2refiner.model.evaluation.image_eval import ABLATION_LABELS, SAM2_ROW

    rows = {}
    for item in items:
        label, sep, path = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--ablation-checkpoints: expected ROW=PATH, got {item!r}")
        if label not in ABLATION_LABELS or label == SAM2_ROW:
            raise ValueError(
                f"--ablation-checkpoints: unknown row {label!r}; rows: {[k for k in ABLATION_LABELS if k != SAM2_ROW]}"
            )
        if label in rows:
            raise ValueError(f"--ablation-checkpoints: row {label} given twice")
        rows[label] = path
    return rows


def run(args) -> dict:
    import torch

    from sam2refiner.model.build import build_sam2refiner
    from sam2refiner.model.config import RefinerSwitches
    from sam2refiner.model.evaluation.image_eval import (
        ABLATION_LABELS,
        ablation_run,
        evaluate_image_set,
        table_runs,
    )
    from sam2refiner.model.evaluation.video_eval import evaluate_video_set
    from sam2refiner.model.image_predictor import SAM2RefinerImagePredictor
    from sam2refiner.model.training.datasets import load_manifest, open_image_set, open_video_set

    ablation = parse_ablation_checkpoints(args.ablation_checkpoints)
    manifest = load_manifest(args.manifest)
    image_sets = args.sets if args.sets is not None else list(manifest["test"])
    # Open everything first: a missing folder fails before minutes of model loading.
    opened = {name: _Head(open_image_set(manifest, "test", name), args.limit) for name in image_sets}
    videos = {name: open_video_set(manifest, name) for name in args.video_sets}
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def build(ckpt, **kw):
        return build_sam2refiner(args.config, args.image_size, device, args.sam2_checkpoint, ckpt, **kw)

    tables = set(args.tables)
    results = {"model": {}, "image": {}, "video": {}}
    if opened:
        model = build(args.refiner_checkpoint)
        results["model"] = {
            "config": args.config,
            "image_size": args.image_size,
            "sam2_checkpoint": args.sam2_checkpoint,
            "refiner_checkpoint": args.refiner_checkpoint,
            "modules": model.config.modules.as_dict(),
        }
        predictor = SAM2RefinerImagePredictor(model)
        runs = table_runs(tables, model.config.modules, ablation_by_switching=not ablation)
        for name, data in opened.items():
            results["image"][name] = evaluate_image_set(predictor, data, runs, args.seed, not args.no_progress, name)
        if 4 in tables:
            results["table4"] = {"mode": "checkpoints" if ablation else "switches", "checkpoints": ablation}
        for label, path in ablation.items() if 4 in tables else ():
            row_model = build(path)
            if row_model.config.modules != ABLATION_LABELS[label]:
                raise ValueError(
                    f"--ablation-checkpoints: {path} was trained with modules "
                    f"{row_model.config.modules.as_dict()}, not row {label}'s"
                )
            row_predictor = SAM2RefinerImagePredictor(row_model)
            for name, data in opened.items():
                scores = evaluate_image_set(
                    row_predictor,
                    data,
                    [ablation_run(label, row_model.config.modules)],
                    args.seed,
                    not args.no_progress,
                    f"{name} {label}",
                )
                results["image"][name].update(scores)
    if videos:
        model = build(args.refiner_checkpoint, video=True)
        for name, data in videos.items():
            seqs = data.sequences[: args.limit] if args.limit else data.sequences
            results["video"][name] = {
                label: evaluate_video_set(
                    seqs,
                    tracker_segmenter(model, refine),
                    args.video_protocol,
                    not args.no_progress,
                    f"{name} {label}",
                    data.aggregate,
                )
                for label, refine in (("SAM 2", RefinerSwitches.off()), ("SAM2Refiner", model.config.modules))
            }
    return results


def main(argv=None) -> int:
    from sam2refiner.model.evaluation.tables import render
    from sam2refiner.model.training.datasets import DatasetError

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        results = run(args)
    except (DatasetError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    markdown = render(results, set(args.tables))
    print(markdown)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "results.md").write_text(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
