"""Streaming video costs, measured in one run (hiera_t, random weights, CPU unless --device cuda).

    python bench/video.py [--sizes 256 512] [--frames 60] [--compare-frames 24] [--device cpu] [--threads 1]

Prints, per image size:
  (medians of per-frame times, wall clock and this process's CPU time; each ratio's two sides run interleaved,
  frame by frame, so both see the same machine load)
  redis / in-process   per-frame time (state load + encoder + tracking + state save) with the state in Redis over
                       the same with the state in this process; two sessions fed the same frames in turn; goal <= 1.10
  ours / SAM2VideoPredictor  refiner-off streaming (encoder + tracking) over sam2's propagate_in_video per frame,
                       same frames, same weights; goal <= 1.15
  frame 60 / frame 20  mean per-frame time around frame 60 over around frame 20 (windows full at both); goal ~1.0
  state bytes / object the tracker state (memory features in bf16, pointers, ...) once the windows are full, and
                       the bytes Redis holds for it (without the current frame's JPEG)
With --refined (a model with all three modules, random refiner weights), per module set against refiner-off:
  per tracked frame    encode + track, sessions with refiner off, PR+MR, and LA+PR+MR fed the same frames in turn
                       (A, B, C, A, B, C ...); medians, spread of the pairwise ratios; goals PR+MR <= 1.3x,
                       all three <= 5.3x (LA's five-image encoding is 5x)
  refine stage         the tracker's "refine" timing (PR + MR on the candidate SAM 2 keeps), median ms
With --objects N (refiner off; --refined with it: PR+MR), tracking time per frame (the tracker's step on encoded
features, the encoder left out) of sessions fed the same frames in turn (A, B, C, A, B, C ...):
  N objects together / 1 object    the default tracker (a frame's objects in one batch); goal <= 4x for N = 8
  N objects one by one / 1 object  StreamingTracker(batch_objects=False), as sam2's video predictor runs them
  (all N objects are clicked on frame 0; frames before --objects-from are not timed: memories still filling)
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import redis
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import ratio  # noqa: E402
from sam2refiner.model import build_sam2refiner  # noqa: E402
from sam2refiner.model.config import RefinerSwitches  # noqa: E402
from sam2refiner.model.runtime import enable_tf32  # noqa: E402
from sam2refiner.model.training.synthetic import synthetic_video  # noqa: E402
from sam2refiner.model.transforms import prepare_image  # noqa: E402
from sam2refiner.model.video import StreamingTracker, TrackPrompt  # noqa: E402
from sam2refiner.model.video.codec import model_fingerprint  # noqa: E402
from sam2refiner.service.video.store import InProcessStateStore, RedisStateStore  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"


def _click(mask: np.ndarray) -> list[list[float]]:
    ys, xs = np.nonzero(mask)
    i = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    return [[float(xs[i]), float(ys[i])]]


def _stream_step(tracker, store, session, frame, prompts, io_seconds: list | None = None):
    """One frame as the service runs it: load the state, encode, track, save (``io_seconds`` gets load + save)."""
    start = time.perf_counter()
    stored = store.load(session)
    loaded = time.perf_counter()
    feats = tracker.encode_frame(frame, stored.state.switches)
    state, _ = tracker.step(stored.state, feats, prompts)
    computed = time.perf_counter()
    store.save(session, state, b"", stored)
    if io_seconds is not None:
        io_seconds.append(loaded - start + time.perf_counter() - computed)
    return state


def _timed(fn):
    """(result, (wall seconds, CPU seconds of this process)); CPU time barely moves when other processes load
    the machine, wall time also counts waiting (e.g. for Redis)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - wall, time.process_time() - cpu)


def bench_size(size: int, frames_n: int, compare_n: int, device: str, checkpoint: str) -> dict:
    """Every ratio compares runs interleaved frame by frame, so both sides see the same machine load."""
    frames, masks = synthetic_video(seed=4, num_frames=frames_n + 8, size=(size * 3 // 4, size), num_objects=2)
    click = _click(masks[0, 0])
    first = [TrackPrompt(1, points=click, labels=[1])]
    model = build_sam2refiner(
        "hiera_t", size, device, sam2_checkpoint=checkpoint, modules=RefinerSwitches.off(), video=True
    )
    tracker = StreamingTracker(model)
    fp = model_fingerprint(model)
    prefix = f"bench-video-{uuid.uuid4().hex[:8]}"
    stores = {
        "in-process": InProcessStateStore(fp, ttl_s=600),
        "redis": RedisStateStore(REDIS_URL, fp, ttl_s=600, prefix=prefix),
    }
    for name in stores:
        stores[name].save("s", tracker.new_state(refine=False), None, None)
    stores["in-process"].save("early", tracker.new_state(refine=False), None, None)
    times = {name: [] for name in stores}
    io = {name: [] for name in stores}
    late, early = [], []
    try:
        # 1. the same session with its state in Redis / in this process
        for t in range(frames_n):
            order = list(stores) if t % 2 == 0 else list(stores)[::-1]  # neither always runs second
            for name in order:
                _, dt = _timed(
                    lambda: _stream_step(tracker, stores[name], "s", frames[t], first if t == 0 else [], io[name])
                )
                times[name].append(dt)
        redis_info = stores["redis"].info("s")
        state_bytes = stores["in-process"].load("s").state.nbytes()
        # 2. around frame 60 (the in-process session goes on) / around frame 20 (a second session)
        for t in range(16):
            _stream_step(tracker, stores["in-process"], "early", frames[t], first if t == 0 else [])
        for k in range(8):
            early.append(_timed(lambda: _stream_step(tracker, stores["in-process"], "early", frames[16 + k], []))[1])
            late.append(_timed(lambda: _stream_step(tracker, stores["in-process"], "s", frames[frames_n + k], []))[1])
    finally:
        stores["redis"].delete("s")
        stores["redis"].close()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)

    # 3. refiner-off streaming / sam2's video predictor, the same frames and weights, frame by frame in turn
    ours, theirs = [], []
    state = tracker.new_state(refine=False)
    reference = _reference_frames(frames[:compare_n], click, size, device, checkpoint)
    for t in range(compare_n):

        def ours_step(t=t):
            feats = tracker.encode_frame(frames[t], state.switches)
            return tracker.step(state, feats, first if t == 0 else [])[0]

        state, dt = _timed(ours_step)
        ours.append(dt)
        theirs.append(_timed(lambda: next(reference))[1])

    skip = 2  # the first frames pay for lazy initialisation

    def med(xs, which=None):  # medians in ms: the machine is shared
        values = xs if which is None else [x[which] for x in xs]
        return 1000 * statistics.median(values[skip:] if len(values) > skip + 4 else values)

    out = {
        "size": size,
        "state_bytes": state_bytes,
        "redis_bytes": redis_info.bytes - redis_info.frame_bytes,
        "in_process_io_ms": med(io["in-process"]),
        "redis_io_ms": med(io["redis"]),
    }
    for clock, which in (("wall", 0), ("cpu", 1)):
        out[clock] = {
            "in_process": med(times["in-process"], which),
            "redis": med(times["redis"], which),
            "ours": med(ours, which),
            "sam2": med(theirs, which),
            "frame20": med(early, which),
            "frame60": med(late, which),
        }
    return out


def bench_refined(size: int, frames_n: int, device: str, checkpoint: str) -> dict:
    """Per tracked frame: refiner-off, PR+MR and LA+PR+MR sessions on one model, frame by frame in turn."""
    frames, masks = synthetic_video(seed=4, num_frames=frames_n, size=(size * 3 // 4, size), num_objects=2)
    first = [TrackPrompt(1, points=_click(masks[0, 0]), labels=[1])]
    model = build_sam2refiner("hiera_t", size, device, sam2_checkpoint=checkpoint, video=True, seed=5)
    tracker = StreamingTracker(model)
    sets = {"off": RefinerSwitches.off(), "PR+MR": RefinerSwitches(False, True, True), "LA+PR+MR": RefinerSwitches()}
    states = {name: tracker.new_state(refine=switches) for name, switches in sets.items()}
    times = {name: [] for name in sets}
    refine_ms = {name: [] for name in sets}
    for t in range(frames_n):
        for name in sets:

            def step(name=name, t=t):
                feats = tracker.encode_frame(frames[t], states[name].switches)
                return tracker.step(states[name], feats, first if t == 0 else [])

            (states[name], result), (wall, _) = _timed(step)
            if t >= 2:  # the first frames pay for lazy initialisation (and frame 0 is the prompted one)
                times[name].append(wall)
                refine_ms[name].append(1000 * result.timings.get("refine", 0.0))
    return {"size": size, "times": times, "refine_ms": refine_ms}


def bench_objects(size: int, frames_n: int, n_objects: int, refined: bool, device: str, checkpoint: str) -> dict:
    """Tracking time per frame with 1 object, N objects together and N objects one by one, frame by frame in turn."""
    frames, _ = synthetic_video(seed=4, num_frames=frames_n, size=(size * 3 // 4, size), num_objects=2)
    h, w = frames.shape[1:3]
    switches = RefinerSwitches(False, True, True) if refined else RefinerSwitches.off()
    model = build_sam2refiner("hiera_t", size, device, sam2_checkpoint=checkpoint, modules=switches, video=True, seed=5)
    grid = [((i % 4 + 0.5) * w / 4, (i // 4 % 2 + 0.5) * h / 2) for i in range(n_objects)]
    clicks = {
        "1 object": [TrackPrompt(1, points=[list(grid[0])], labels=[1])],
        f"{n_objects} together": [TrackPrompt(k + 1, points=[list(p)], labels=[1]) for k, p in enumerate(grid)],
    }
    clicks[f"{n_objects} one by one"] = clicks[f"{n_objects} together"]
    trackers = {name: StreamingTracker(model, batch_objects="one by one" not in name) for name in clicks}
    states = {name: trackers[name].new_state(refine=switches) for name in clicks}
    times = {name: [] for name in clicks}
    for t in range(frames_n):
        feats = trackers["1 object"].encode_frame(frames[t], switches)
        order = list(clicks) if t % 2 == 0 else list(clicks)[::-1]
        for name in order:
            step = lambda name=name, t=t: trackers[name].step(states[name], feats, clicks[name] if t == 0 else [])  # noqa: E731
            (states[name], _), (wall, _) = _timed(step)
            times[name].append(wall)
    return times


def _reference_frames(frames, click, size, device, checkpoint):
    """sam2's predictor, prompted on frame 0, as a generator: each next() tracks one more frame."""
    from sam2.build_sam import build_sam2_video_predictor

    from sam2refiner.model.sam2_compat import install_hooks

    install_hooks()  # sam2's hole filling without its extension, as our tracker has it
    side = size // 16
    predictor = build_sam2_video_predictor(
        "configs/sam2.1/sam2.1_hiera_t.yaml",
        checkpoint,
        device=device,
        hydra_overrides_extra=[
            f"++model.image_size={size}",
            f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]",
            f"++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]",
        ],
    )
    import cv2

    with tempfile.TemporaryDirectory() as folder:
        for t, frame in enumerate(frames):
            cv2.imwrite(f"{folder}/{t:05d}.jpg", frame[..., ::-1])
        state = predictor.init_state(folder)
    state["images"] = torch.stack([prepare_image(f, size, device)[0] for f in frames])
    state["cached_features"] = {}
    predictor.add_new_points_or_box(state, 0, 1, points=click, labels=[1])
    return iter(predictor.propagate_in_video(state))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--frames", type=int, default=60, help="frames streamed per store; the late window starts here")
    parser.add_argument("--compare-frames", type=int, default=24, help="frames for the SAM2VideoPredictor comparison")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--refined", action="store_true", help="only refined / refiner-off per tracked frame, per module set"
    )
    parser.add_argument("--objects", type=int, default=0, help="tracking time with N objects over 1 object")
    parser.add_argument("--objects-from", type=int, default=8, help="first frame timed with --objects")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads; 1 keeps OpenMP from spin-waiting when other processes share the cores",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.ERROR)
    torch.set_grad_enabled(False)
    enable_tf32(args.device)  # the service's start-up policy (Ampere and newer)
    print(f"hiera_t, random weights, device {args.device}, torch threads {torch.get_num_threads()}, one object")
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            from sam2refiner.model.sam2_compat import build_sam2_base

            sam2 = build_sam2_base("hiera_t", size, seed=1234)
            weights = sam2.state_dict()
            # Random weights almost never see an object; bias the presence head so masks (and memories) are real.
            weights["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += 8.0
            checkpoint = f"{tmp}/sam2_random.pt"
            torch.save({"model": weights}, checkpoint)
            if args.objects:
                times = bench_objects(size, args.frames, args.objects, args.refined, args.device, checkpoint)
                times = {name: ts[args.objects_from :] for name, ts in times.items()}
                one = times["1 object"]
                modules = "PR+MR" if args.refined else "refiner off"
                print(f"\nimage_size {size}, {modules}, {len(one)} tracked frames, tracking time per frame (wall)")
                print(f"  1 object {statistics.median(one) * 1e3:.0f} ms")
                for name, ts in times.items():
                    if name != "1 object":
                        goal = "  (goal <= 4x for 8)" if "together" in name else ""
                        print(f"  {name}: {statistics.median(ts) * 1e3:.0f} ms = {ratio(ts, one)} of 1 object{goal}")
                continue
            if args.refined:
                r = bench_refined(size, args.frames, args.device, checkpoint)
                t, ms = r["times"], r["refine_ms"]
                print(
                    f"\nimage_size {size}, {len(t['off'])} tracked frames, median ms per frame (wall), ratio median (min-max)"
                )
                print(f"  refiner off {statistics.median(t['off']) * 1e3:.0f} ms")
                for name in ("PR+MR", "LA+PR+MR"):
                    print(
                        f"  {name}: {statistics.median(t[name]) * 1e3:.0f} ms = {ratio(t[name], t['off'])} of refiner-off; "
                        f"refine stage {statistics.median(ms[name]):.1f} ms ({min(ms[name]):.1f}-{max(ms[name]):.1f})",
                        flush=True,
                    )
                continue
            rows.append(bench_size(size, args.frames, args.compare_frames, args.device, checkpoint))
        r = rows[-1]
        print(f"\nimage_size {size}   (median ms per frame, wall clock / this process's CPU time)")
        w, c = r["wall"], r["cpu"]
        wc = lambda a, b: f"{w[a] / w[b]:.3f} wall, {c[a] / c[b]:.3f} cpu"  # noqa: E731
        print(
            f"  redis {w['redis']:.1f} / {c['redis']:.1f}, in-process {w['in_process']:.1f} / {c['in_process']:.1f}"
            f"   redis / in-process = {wc('redis', 'in_process')}  (goal <= 1.10)"
        )
        print(
            f"    of which state load + save (wall): redis {r['redis_io_ms']:.2f} ms, in-process {r['in_process_io_ms']:.2f} ms"
        )
        print(
            f"  refiner-off streaming {w['ours']:.1f} / {c['ours']:.1f}, SAM2VideoPredictor {w['sam2']:.1f} / {c['sam2']:.1f}"
            f"   ours / SAM2VideoPredictor = {wc('ours', 'sam2')}  (goal <= 1.15)"
        )
        print(
            f"  frames {args.frames}-{args.frames + 7} {w['frame60']:.1f} / {c['frame60']:.1f}, frames 16-23 "
            f"{w['frame20']:.1f} / {c['frame20']:.1f}   frame 60 / frame 20 = {wc('frame60', 'frame20')}  (goal ~1.0)"
        )
        print(f"  state bytes per object: {r['state_bytes']:,} in memory, {r['redis_bytes']:,} in Redis")


if __name__ == "__main__":
    main()
