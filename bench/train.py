"""Training-step cost: steps/s and peak memory per image size, and the split frozen encoder vs refiner.

    .venv/bin/python bench/train.py                          # CPU: hiera_t at 256 and 1024
    .venv/bin/python bench/train.py --config hiera_l --device cuda --batch-size 4

Each size runs in its own process (clean peak memory). A step = frozen encoder on the batch (image + LA's four
quadrants, no grad) + refiner forward/backward/AdamW on one prompt per object. "cached" is a step whose
encoder outputs come from the feature cache (un-augmented samples after their first epoch). All numbers of a
row are measured in the same process; the ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(config: str, size: int, device: str, steps: int, batch_size: int) -> dict:
    import numpy as np
    import torch

    from sam2refiner.model.training.config import TrainConfig
    from sam2refiner.model.training.engine import Trainer

    cfg = TrainConfig(
        sam2_config=config,
        image_size=size,
        data="synthetic",
        synthetic_images=max(4, batch_size),
        synthetic_objects=1,
        augment_prob=0.0,
        feature_cache_mb=4096,
        num_workers=0,
        batch_size=batch_size,
        out_dir="/tmp/bench_train",
        resume=None,
        progress=False,
    )
    trainer = Trainer(cfg, device)
    batch = [trainer.samples[i] for i in range(batch_size)]
    uncached = [{**b, "augmented": True} for b in batch]  # augmented samples bypass the cache
    cuda = trainer.device.type == "cuda"
    trainer.train_step(uncached, 0)  # warm-up (allocator, kernels)
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def timed_steps(items) -> tuple[float, float]:
        """Median encoder and refiner seconds over ``steps`` steps (medians: the CPU may be shared)."""
        enc, ref = [], []
        for i in range(steps):
            trainer.step = i + 1
            trainer.timing = {"encoder": 0.0, "refiner": 0.0}
            trainer.train_step(items, 0)
            enc.append(trainer.timing["encoder"])
            ref.append(trainer.timing["refiner"])
        return float(np.median(enc)), float(np.median(ref))

    enc, ref = timed_steps(uncached)
    trainer.train_step(batch, 0)  # fills the cache
    cached_enc, cached_ref = timed_steps(batch)
    cached = cached_enc + cached_ref
    peak = (
        torch.cuda.max_memory_allocated() / 2**20 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "config": config,
        "image_size": size,
        "device": str(trainer.device),
        "batch_size": batch_size,
        "encoder_s": enc,
        "refiner_s": ref,
        "steps_per_s": 1 / (enc + ref),
        "cached_steps_per_s": 1 / cached,
        "encoder_share": enc / (enc + ref),
        "cache_speedup": (enc + ref) / cached,
        "peak_mb": peak,
        "peak_kind": "cuda max allocated" if cuda else "process max RSS",
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="hiera_t")
    p.add_argument("--sizes", nargs="*", type=int, default=[256, 1024])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one is not None:
        print(json.dumps(measure(a.config, a.one, a.device, a.steps, a.batch_size)))
        return 0
    rows = []
    for size in a.sizes:
        t = time.time()
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                str(size),
                "--config",
                a.config,
                "--device",
                a.device,
                "--steps",
                str(a.steps),
                "--batch-size",
                str(a.batch_size),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"# {size}: measured in {time.time() - t:.0f} s", file=sys.stderr)
    print(
        "| config | size | device | batch | encoder s/step | refiner s/step | steps/s | steps/s cached | "
        "encoder share | cache speed-up | peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['config']} | {r['image_size']} | {r['device']} | {r['batch_size']} | {r['encoder_s']:.3f} | "
            f"{r['refiner_s']:.3f} | {r['steps_per_s']:.3f} | {r['cached_steps_per_s']:.3f} | "
            f"{100 * r['encoder_share']:.0f}% | {r['cache_speedup']:.2f}x | {r['peak_mb']:.0f} ({r['peak_kind']}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
