"""One prepared GPU run: correctness first, then every figure the docs quote, in one script (issue 20, item 3).

    python bench/gpu.py [--out bench-gpu.json]            # on a GPU: about 8 minutes on one H200-class device
    python bench/gpu.py --quick [--out quick.json]        # the same code paths, CPU-sized: under two minutes

Installs nothing and fetches nothing: SAM 2 and the refiner get seeded random weights (the presence head biased so
video objects stay "present", as bench/video.py does); timings do not depend on the weights' values.

1. Correctness (printed first; a failed check is reported and the run goes on, and the exit status is 1):
   - refiner off, our predictor against sam2's SAM2ImagePredictor on the same device (bf16 autocast on CUDA, as
     Meta's README runs it): max |logits difference| <= 1e-3
   - refined (all modules) on the device against the same model in fp32 on the CPU: relative error
     ||a - b|| / ||b|| of the logits (reported; gate 5e-2)
   - hole filling (sam2_compat.fill_holes) on the device against the CPU: equal
2. Image figures per SAM 2 config at --size (hiera_t and hiera_l at 1024): median and p90 (ms) of
   first mask (SAM 2's global encoder pass + decoder, refine off), cached click (refine off), cached refined click
   (all modules), streamed refined answer (a new image until its refined mask: global pass, LA's quadrants, refine).
3. Video figures (hiera_t): frames per second of one session's tracking (encoder + tracking step per frame) with
   1 and 8 objects, refiner off, PR+MR and all modules, with and without torch.compile of the image encoder; and
   total frames per second of 1, 4 and 16 sessions streaming at once through the service's VideoSessions (in-process
   state, one device worker: frames of sessions waiting together share an encoder batch).
Times come from CUDA events on a GPU, perf_counter on a CPU. Prints one markdown table and writes every figure to
a JSON file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sam2refiner.model import SAM2RefinerImagePredictor, build_sam2refiner  # noqa: E402
from sam2refiner.model.config import RefinerSwitches  # noqa: E402
from sam2refiner.model.runtime import enable_tf32, inference_context, synchronize  # noqa: E402
from sam2refiner.model.sam2_compat import build_sam2_base, fill_holes  # noqa: E402
from sam2refiner.model.training.synthetic import synthetic_video  # noqa: E402
from sam2refiner.model.video import StreamingTracker, TrackPrompt  # noqa: E402

MODULE_SETS = {"off": RefinerSwitches.off(), "PR+MR": RefinerSwitches(False, True, True), "all": RefinerSwitches()}


@dataclass(frozen=True)
class Plan:
    """How much of everything to run."""

    device: str
    size: int
    configs: tuple[str, ...]
    repeats: int
    video_frames: int
    objects: tuple[int, ...]
    compile: tuple[bool, ...]
    sessions: tuple[int, ...]
    session_frames: int


def plan_for(quick: bool) -> Plan:
    if quick:  # every code path, CPU-sized
        return Plan("cpu", 256, ("hiera_t",), 1, 1, (2,), (False,), (1, 2), 1)  # 2 objects: the batched path
    return Plan("cuda", 1024, ("hiera_t", "hiera_l"), 30, 24, (1, 8), (False, True), (1, 4, 16), 12)


# ---------------------------------------------------------------------------------------------- timing
def timed(fn, device: str) -> float:
    """Seconds of one call: CUDA events on a GPU, perf_counter on a CPU."""
    if torch.device(device).type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1e3
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def summary(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1e3
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "n": len(ms)}


# ---------------------------------------------------------------------------------------------- weights
def random_checkpoint(config: str, size: int, folder: str) -> str:
    """Seeded random SAM 2 weights in the official format, the presence head biased to "present"."""
    weights = build_sam2_base(config, size, seed=1234).state_dict()
    weights["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += 8.0
    path = f"{folder}/{config}_{size}_random.pt"
    torch.save({"model": weights}, path)
    return path


def image(seed: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 90, (size * 3 // 4, size, 3), dtype=np.uint8)
    img[size // 4 : size // 2, size // 4 : size * 3 // 4] = 220
    return img


# ---------------------------------------------------------------------------------------------- 1. correctness
def correctness(plan: Plan, checkpoint: str) -> dict:
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    img, click = image(1, plan.size), dict(point_coords=np.array([[plan.size / 2, plan.size * 3 / 8]]))
    click["point_labels"] = np.array([1])
    ours = build_sam2refiner("hiera_t", plan.size, plan.device, sam2_checkpoint=checkpoint, seed=5)
    predictor = SAM2RefinerImagePredictor(ours)
    predictor.set_image(img)
    _, _, ours_off = predictor.predict(**click, multimask_output=False, refine=False)
    _, _, ours_refined = predictor.predict(**click, multimask_output=False, refine=True)

    reference = SAM2ImagePredictor(ours.sam2)
    s = plan.size
    reference._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    with inference_context(plan.device):  # bf16 autocast on CUDA, as Meta's README runs SAM 2
        reference.set_image(img)
        _, _, ref_off = reference.predict(**click, multimask_output=False)
    off_diff = float(np.abs(ours_off - ref_off).max())

    cpu_model = build_sam2refiner("hiera_t", plan.size, "cpu", sam2_checkpoint=checkpoint, seed=5)
    cpu = SAM2RefinerImagePredictor(cpu_model)
    cpu.set_image(img)
    _, _, cpu_refined = cpu.predict(**click, multimask_output=False, refine=True)
    rel = float(np.linalg.norm(ours_refined - cpu_refined) / max(np.linalg.norm(cpu_refined), 1e-12))

    logits = torch.from_numpy(cpu_refined.astype(np.float32))[None] * 0.05  # small structures: holes to fill
    holes_equal = torch.equal(fill_holes(logits.to(plan.device), 8).cpu(), fill_holes(logits, 8))
    return {
        "refiner_off_vs_SAM2ImagePredictor_max_abs": off_diff,
        "refiner_off_ok": off_diff <= 1e-3,
        "refined_device_vs_cpu_fp32_rel_error": rel,
        "refined_ok": rel <= 5e-2,
        "fill_holes_equal_cpu": holes_equal,
    }


# ---------------------------------------------------------------------------------------------- 2. images
def image_figures(plan: Plan, config: str, checkpoint: str) -> dict:
    model = build_sam2refiner(config, plan.size, plan.device, sam2_checkpoint=checkpoint, seed=5)
    predictor = SAM2RefinerImagePredictor(model)
    click = dict(point_coords=np.array([[plan.size / 2, plan.size * 3 / 8]]), point_labels=np.array([1]))
    first, streamed, cached, refined = [], [], [], []
    for i in range(plan.repeats + 1):  # the first round warms up (lazy initialisation, cuDNN autotuning)
        img = image(100 + i, plan.size)
        t = {}
        staged = None

        def first_mask():
            nonlocal staged
            staged = predictor.start_encoding(img)
            predictor.set_features(staged.sam2_features)
            predictor.predict(**click, multimask_output=False, refine=False)

        def refined_answer():
            while not staged.done:
                staged.step()
            predictor.set_features(staged.features())
            predictor.predict(**click, multimask_output=False, refine=True)

        t["first"] = timed(first_mask, plan.device)
        t["streamed"] = t["first"] + timed(refined_answer, plan.device)
        t["cached"] = timed(lambda: predictor.predict(**click, multimask_output=False, refine=False), plan.device)
        t["refined"] = timed(lambda: predictor.predict(**click, multimask_output=False, refine=True), plan.device)
        if i:
            for figures, name in ((first, "first"), (streamed, "streamed"), (cached, "cached"), (refined, "refined")):
                figures.append(t[name])
    return {
        "first_mask": summary(first),
        "cached_click": summary(cached),
        "cached_refined_click": summary(refined),
        "streamed_refined_answer": summary(streamed),
    }


# ---------------------------------------------------------------------------------------------- 3. video
def video_figures(plan: Plan, checkpoint: str) -> dict:
    frames, _ = synthetic_video(seed=4, num_frames=plan.video_frames + 2, size=(plan.size * 3 // 4, plan.size))
    h, w = frames.shape[1:3]
    out = {}
    for compiled in plan.compile:
        model = build_sam2refiner(
            "hiera_t", plan.size, plan.device, sam2_checkpoint=checkpoint, seed=5, video=True,
            compile_encoder=compiled,
        )  # fmt: skip
        tracker = StreamingTracker(model)
        for n in plan.objects:
            clicks = [
                TrackPrompt(k + 1, points=[[(k % 4 + 0.5) * w / 4, (k // 4 % 2 + 0.5) * h / 2]], labels=[1])
                for k in range(n)
            ]
            for name, switches in MODULE_SETS.items():
                state = tracker.new_state(refine=switches)
                seconds = []
                for t, frame in enumerate(frames):

                    def one_frame(t=t, frame=frame):
                        nonlocal state
                        feats = tracker.encode_frame(frame, state.switches)
                        state, _ = tracker.step(state, feats, clicks if t == 0 else [])

                    dt = timed(one_frame, plan.device)
                    if t >= 2:  # frame 0 is prompted; both pay lazy initialisation (and compilation)
                        seconds.append(dt)
                fps = 1.0 / statistics.median(seconds)
                out[f"{'compiled' if compiled else 'eager'} {n} obj {name}"] = {"fps": fps, **summary(seconds)}
    return out


def session_figures(plan: Plan, checkpoint: str) -> dict:
    """Total frames per second of N sessions streaming at once through VideoSessions on one device worker."""
    from sam2refiner.service.core.runtime import Runtime
    from sam2refiner.service.core.settings import Settings
    from sam2refiner.service.video.sessions import VideoSessions

    settings = Settings(
        sam2_config="hiera_t",
        image_size=plan.size,
        device=plan.device,
        sam2_checkpoint=checkpoint,
        random_refiner=True,
        redis_url="",
        warmup=False,
        queue_size=64,
    )
    runtime = Runtime.load(settings)
    sessions = VideoSessions(runtime, settings)
    frames, _ = synthetic_video(seed=4, num_frames=plan.session_frames + 1, size=(plan.size * 3 // 4, plan.size))
    raw = b"frame"  # the bytes kept as the current frame; the pixels are given decoded

    class NoReply:
        def make(self, result):
            pass

        def kept(self):
            return b""

    async def stream(name: str) -> None:
        await sessions.start(name, refine=False)
        for frame in frames:
            await sessions.frame(name, raw, frame, NoReply())

    async def run(n: int, round_: int) -> float:
        names = [f"bench-{n}-{round_}-{i}" for i in range(n)]
        start = time.perf_counter()
        await asyncio.gather(*(stream(name) for name in names))
        return n * len(frames) / (time.perf_counter() - start)

    out = {}
    try:
        asyncio.run(run(1, -1))  # warm-up
        for n in plan.sessions:
            fps = [asyncio.run(run(n, r)) for r in range(plan.repeats)]
            out[f"{n} sessions"] = {"total_fps": statistics.median(fps), "runs": fps}
    finally:
        sessions.close()
        runtime.close()
    return out


# ---------------------------------------------------------------------------------------------- report
def markdown(report: dict) -> str:
    lines = [f"| figure | value |", "|---|---|"]  # noqa: F541
    for key, value in report["correctness"].items():
        lines.append(f"| correctness: {key} | {value} |")
    for config, figures in report["image"].items():
        for name, s in figures.items():
            lines.append(f"| {config} {name} | {s['median_ms']:.1f} ms (p90 {s['p90_ms']:.1f}) |")
    for name, s in report["video"].items():
        lines.append(f"| video {name} | {s['fps']:.1f} fps ({s['median_ms']:.1f} ms/frame, p90 {s['p90_ms']:.1f}) |")
    for name, s in report["sessions"].items():
        lines.append(f"| {name} streaming at once | {s['total_fps']:.1f} fps in total |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CPU-sized: every code path in under two minutes")
    parser.add_argument("--out", default="bench-gpu.json", help="where the JSON of every figure goes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with torch.no_grad():  # a context, not set_grad_enabled(False): tests call main() in their own process
        return run(args, parser)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    plan = plan_for(args.quick)
    if plan.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --quick on a CPU")
    enable_tf32(plan.device)
    device_name = torch.cuda.get_device_name() if plan.device == "cuda" else platform.processor() or "cpu"
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": device_name,
        "torch": torch.__version__,
        "plan": plan.__dict__,
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        checkpoints = {c: random_checkpoint(c, plan.size, folder) for c in plan.configs}
        video_checkpoint = checkpoints["hiera_t"]
        phases = report["phase_seconds"] = {}

        def phase(name, fn):
            t = time.perf_counter()
            report[name] = fn()
            synchronize(plan.device)
            phases[name] = time.perf_counter() - t
            print(f"{name} done in {phases[name]:.0f} s", flush=True)

        phase("correctness", lambda: correctness(plan, checkpoints["hiera_t"]))
        print("correctness:", json.dumps(report["correctness"]), flush=True)
        phase("image", lambda: {c: image_figures(plan, c, checkpoints[c]) for c in plan.configs})
        phase("video", lambda: video_figures(plan, video_checkpoint))
        phase("sessions", lambda: session_figures(plan, video_checkpoint))
    report["seconds"] = time.perf_counter() - started
    print(f"\n{device_name}, torch {torch.__version__}, {report['date']}, {report['seconds']:.0f} s\n")
    print(markdown(report))
    Path(args.out).write_text(json.dumps(report, indent=2))
    ok = report["correctness"]
    return 0 if ok["refiner_off_ok"] and ok["refined_ok"] and ok["fill_holes_equal_cpu"] else 1


if __name__ == "__main__":
    sys.exit(main())
