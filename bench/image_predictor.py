"""Image predictor costs, refiner on vs off, both sides of every ratio interleaved (A, B, A, B, ...).

    python bench/image_predictor.py [--sizes 256 1024] [--config hiera_t] [--device cpu|cuda] [--repeats 5]

Prints, per image size (medians, and the spread of the pairwise ratios):
  set_image on/off        LA's five-image encoding against SAM 2's one (5x is the floor)
  cached click on/off     a box prompt on cached features, refined against ``refine=False`` (SAM 2's own path)
  multimask on/off        a click with three candidates, each refined
  first/cached refined    set_image + predict over a cached refined predict
and a Mask Refinement stage table: the three blocks (S/16, S/8, S/4 with heads), the S/2 upscaling, and the
full-resolution stage as it runs now (per-mask phase conv + pixel shuffle + the cached image term) against the
plain composition it replaces (the image's low-level branch per mask, a 16-channel S x S map, GELU, the final conv).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import interleaved, median_ms, ratio  # noqa: E402
from sam2refiner.model import RefinerSwitches, SAM2RefinerImagePredictor, build_sam2refiner  # noqa: E402
from sam2refiner.model.runtime import enable_tf32  # noqa: E402
from sam2refiner.model.sam2_compat.decoder import decode  # noqa: E402


def _image(size):
    rng = np.random.default_rng(0)
    return (rng.random((size * 3 // 4, size, 3)) * 255).astype(np.uint8)


def _mr_stages(model, predictor, box, repeats, device) -> dict[str, list[float]]:
    """Seconds per Mask Refinement stage on the predictor's cached features, for one box prompt."""
    mr, feats = model.mask_refinement, predictor.features
    coords, labels, _ = predictor._prep_prompts(None, None, box, None, True, feats.orig_hw[0])
    with torch.inference_mode():
        decoded = decode(model.sam2, feats.refined_embed, feats.high_res, coords, labels, None, False)
        embed = decoded.object_embed
        f = [decoded.image_embed, feats.high_res[1], feats.high_res[0]]
        coarse = decoded.masks.flatten(0, 1)[:, None].float()
        half, _ = mr._to_half_resolution(embed, f, coarse)

        def blocks():
            n = embed.shape[0]
            x1 = mr.block1(torch.cat([embed, f[0].expand(n, -1, -1, -1)], 1))
            x2 = mr.block2(torch.cat([F.interpolate(x1, scale_factor=2.0, mode="bilinear"), f[1]], 1))
            x3 = mr.block3(
                torch.cat([F.interpolate(x2, scale_factor=2.0, mode="bilinear"), f[2], coarse / mr.COARSE_SCALE], 1)
            )
            [h(x) for h, x in zip(mr.heads, (x1, x2, x3))]
            return x3

        x3 = blocks()

        def full_now():
            phases = F.conv2d(half, mr._phase_kernel(), None, padding=1)
            out = F.pixel_shuffle(phases, 2) + feats.mr_image_term
            return mr._coarse_up(coarse, out.shape[-2:]) + out

        def full_before():  # the previous layout: per-mask low-level branch, 16-channel S x S map, GELU, final conv
            cl = torch.channels_last
            low = mr.low_level(feats.image.contiguous(memory_format=cl))
            full = F.gelu(mr.upscale[3](half)) + low
            return mr._coarse_up(coarse, full.shape[-2:]) + mr.out(full)

        return interleaved(
            {
                "blocks (S/16, S/8, S/4)": blocks,
                "upscale to S/2": lambda: mr.upscale[:3](x3.contiguous(memory_format=torch.channels_last)),
                "full res, before": full_before,
                "full res, now": full_now,
                "MR total, now": lambda: mr(embed, f, feats.mr_image_term, coarse),
            },
            repeats * 2,
            device,
        )


def bench_size(config, size, device, repeats) -> None:
    model = build_sam2refiner(config, size, device)
    sam2_only = build_sam2refiner(config, size, device, modules=RefinerSwitches.off())
    on, off = SAM2RefinerImagePredictor(model), SAM2RefinerImagePredictor(sam2_only)
    image = _image(size)
    box = np.array([size * 0.2, size * 0.1, size * 0.7, size * 0.6])
    click = dict(point_coords=np.array([[size * 0.4, size * 0.3]]), point_labels=np.array([1]))
    on.set_image(image)

    def first():
        on.set_image(image)
        on.predict(box=box, multimask_output=False)

    enc = interleaved({"on": lambda: on.set_image(image), "off": lambda: off.set_image(image)}, repeats, device)
    clicks = interleaved(
        {
            "on": lambda: on.predict(box=box, multimask_output=False),
            "off": lambda: on.predict(box=box, multimask_output=False, refine=False),
            "multi on": lambda: on.predict(**click, multimask_output=True),
            "multi off": lambda: on.predict(**click, multimask_output=True, refine=False),
        },
        repeats * 3,
        device,
    )
    firsts = interleaved(
        {"first": first, "cached": lambda: on.predict(box=box, multimask_output=False)}, repeats, device
    )
    print(
        f"| {size} | {ratio(enc['on'], enc['off'])} ({median_ms(enc['on'])} / {median_ms(enc['off'])}) "
        f"| {ratio(clicks['on'], clicks['off'])} ({median_ms(clicks['on'])} / {median_ms(clicks['off'])}) "
        f"| {ratio(clicks['multi on'], clicks['multi off'])} | {ratio(firsts['first'], firsts['cached'])} |",
        flush=True,
    )
    if model.mask_refinement is not None:
        on.set_image(image)
        stages = _mr_stages(model, on, box, repeats, device)
        spread = lambda v: f"{min(v) * 1e3:.1f}-{max(v) * 1e3:.1f}"  # noqa: E731
        print(
            "  Mask Refinement per stage (one box mask): "
            + "; ".join(f"{name} {median_ms(v)} ({spread(v)})" for name, v in stages.items())
        )
        print(
            f"  full-res stage before / now: {ratio(stages['full res, before'], stages['full res, now'])}", flush=True
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--config", default="hiera_t")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    enable_tf32(device)  # the service's start-up policy (Ampere and newer)
    print(
        f"# image predictor: {args.config} on {device} ({torch.get_num_threads()} threads), interleaved, "
        f"medians, ratio spread min-max"
    )
    print("| size | set_image on/off | cached click on/off (box) | click multimask on/off | first/cached refined |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        bench_size(args.config, size, device, args.repeats)


if __name__ == "__main__":
    main()
