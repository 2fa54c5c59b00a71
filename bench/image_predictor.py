"""Image predictor costs, refiner on vs off, measured in one run.

    python bench/image_predictor.py [--sizes 256 1024] [--config hiera_t] [--device cpu|cuda] [--repeats 3]

Prints, per image size: set_image time refiner-on / refiner-off (LA encodes five images: 5x is the floor),
cached predict refiner-on / refiner-off, first refined predict (set_image + predict) / cached refined predict,
and peak memory of each mode (CUDA: max allocated; CPU: peak RSS of a fresh subprocess per mode).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import RefinerSwitches, SAM2RefinerImagePredictor, build_sam2refiner  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats):
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _image(size):
    rng = np.random.default_rng(0)
    return (rng.random((size * 3 // 4, size, 3)) * 255).astype(np.uint8)


def measure(config, size, device, repeats, refine: bool):
    """Times of one mode: set_image, cached predict, first predict (set_image + predict)."""
    modules = RefinerSwitches() if refine else RefinerSwitches.off()
    model = build_sam2refiner(config, size, device, modules=modules)
    predictor = SAM2RefinerImagePredictor(model)
    image = _image(size)
    box = np.array([size * 0.2, size * 0.1, size * 0.7, size * 0.6])
    click = dict(point_coords=np.array([[size * 0.4, size * 0.3]]), point_labels=np.array([1]))
    predictor.set_image(image)  # warm-up (allocator, kernels)
    predictor.predict(box=box, multimask_output=False, refine=refine)
    set_image = _time(lambda: predictor.set_image(image), device, repeats)
    predict = _time(lambda: predictor.predict(box=box, multimask_output=False, refine=refine), device, repeats * 3)
    predict_multi = _time(lambda: predictor.predict(**click, multimask_output=True, refine=refine), device, repeats * 3)

    def first():
        predictor.set_image(image)
        predictor.predict(box=box, multimask_output=False, refine=refine)

    first_predict = _time(first, device, repeats)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return dict(set_image=set_image, predict=predict, predict_multimask=predict_multi, first=first_predict, peak_bytes=peak)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--config", default="hiera_t")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "REFINE"), help=argparse.SUPPRESS)  # subprocess mode
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    if args.one:  # one mode in a fresh process, so its peak RSS is its own
        print(json.dumps(measure(args.config, int(args.one[0]), device, args.repeats, args.one[1] == "on")))
        return

    print(f"# image predictor: {args.config} on {device} ({torch.get_num_threads()} threads), median of {args.repeats}+ runs")
    print("| size | set_image on/off | cached predict on/off (box) | (click, multimask) | first/cached refined | peak MiB off | peak MiB on |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        res = {}
        for mode in ("off", "on"):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                res[mode] = measure(args.config, size, device, args.repeats, mode == "on")
            else:
                out = subprocess.run(
                    [sys.executable, __file__, "--config", args.config, "--device", args.device,
                     "--repeats", str(args.repeats), "--one", str(size), mode],
                    check=True, capture_output=True, text=True,
                )
                res[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        on, off = res["on"], res["off"]
        print(
            f"| {size} | {on['set_image'] / off['set_image']:.2f}x ({on['set_image']:.3f}s / {off['set_image']:.3f}s) "
            f"| {on['predict'] / off['predict']:.2f}x ({on['predict'] * 1e3:.1f}ms / {off['predict'] * 1e3:.1f}ms) "
            f"| {on['predict_multimask'] / off['predict_multimask']:.2f}x "
            f"| {on['first'] / on['predict']:.1f}x "
            f"| {off['peak_bytes'] / 2**20:.0f} | {on['peak_bytes'] / 2**20:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
