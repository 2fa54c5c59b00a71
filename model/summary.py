"""Prints what a SAM2Refiner is made of: trainable parameters per module, frozen SAM 2 parameters, switches.

python -m sam2refiner.model.summary --config hiera_l [--image-size 1024] [--no-la] [--refiner-checkpoint PATH]
"""

from __future__ import annotations

import argparse
import logging

from .build import build_sam2refiner
from .config import SAM2_CONFIGS, RefinerSwitches
from .sam2refiner import REFINER_MODULES


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def summarize(model) -> str:
    lines = [f"SAM2Refiner on SAM 2.1 {model.config.sam2_config}, image_size {model.image_size}"]
    lines.append(
        "switches: " + ", ".join(f"{k}={'on' if v else 'off'}" for k, v in model.config.modules.as_dict().items())
    )
    lines.append("")
    lines.append(f"{'trainable module':<42}{'parameters':>14}")
    total_trainable = 0
    for name in REFINER_MODULES:
        module = getattr(model, name)
        if module is None:
            lines.append(f"{name:<42}{'(off)':>14}")
            continue
        total_trainable += _count(module)
        lines.append(f"{name:<42}{_count(module):>14,}")
        for child_name, child in module.named_children():
            lines.append(f"  {child_name:<40}{_count(child):>14,}")
    lines.append(f"{'total trainable':<42}{total_trainable:>14,}")
    lines.append("")
    lines.append(f"{'frozen SAM 2 module':<42}{'parameters':>14}")
    for child_name, child in model.sam2.named_children():
        if _count(child):
            lines.append(f"{child_name:<42}{_count(child):>14,}")
    frozen = _count(model.sam2)
    direct = frozen - sum(_count(c) for c in model.sam2.children())
    if direct:
        lines.append(f"{'(embeddings held by SAM2Base itself)':<42}{direct:>14,}")
    lines.append(f"{'total frozen':<42}{frozen:>14,}")
    trainable_flags = {p.requires_grad for p in model.sam2.parameters()}
    lines.append(
        f"SAM 2 requires_grad: {sorted(trainable_flags)}; trainable share {total_trainable / (total_trainable + frozen):.1%}"
    )
    weights = model.weights
    lines.append(
        f"SAM 2 weights: {weights.sam2_checkpoint or 'RANDOM'}; refiner weights: {weights.refiner_checkpoint or 'RANDOM'}"
    )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="hiera_l", choices=sorted(SAM2_CONFIGS))
    parser.add_argument("--image-size", type=int, default=1024)
    parser.add_argument("--sam2-checkpoint")
    parser.add_argument("--refiner-checkpoint")
    for flag, name in (("la", "Localization Augment"), ("pr", "Prompt Retargeting"), ("mr", "Mask Refinement")):
        parser.add_argument(f"--no-{flag}", action="store_true", help=f"build without {name}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    modules = None
    if args.no_la or args.no_pr or args.no_mr:
        modules = RefinerSwitches(la=not args.no_la, pr=not args.no_pr, mr=not args.no_mr)
    model = build_sam2refiner(
        args.config,
        args.image_size,
        "cpu",
        sam2_checkpoint=args.sam2_checkpoint,
        refiner_checkpoint=args.refiner_checkpoint,
        modules=modules,
    )
    print(summarize(model))


if __name__ == "__main__":
    main()
