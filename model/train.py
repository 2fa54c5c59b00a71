"""Train the SAM2Refiner modules on a frozen SAM 2.

    python -m sam2refiner.model.train --config configs/sam2refiner_hiera_l.yaml [key=value ...]
    torchrun --nproc_per_node 8 -m sam2refiner.model.train --config configs/sam2refiner_hiera_l.yaml
    python -m sam2refiner.model.train --config configs/smoke_cpu.yaml            # a minute on a CPU, synthetic data

Writes <out_dir>/refiner.safetensors (load it with build_sam2refiner(..., refiner_checkpoint=...)), a resumable
<out_dir>/checkpoints/last.pt, <out_dir>/train_log.csv and <out_dir>/config.json.
"""

from __future__ import annotations

import argparse
import logging
import sys

from sam2refiner.model.training.config import load_train_config
from sam2refiner.model.training.datasets import DatasetError
from sam2refiner.model.training.train_state import TrainStateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sam2refiner.model.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="YAML file of training options (see configs/)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("overrides", nargs="*", help="option=value overrides, e.g. max_steps=100 modules.la=false")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_train_config(args.config, args.overrides)
        from sam2refiner.model.training.engine import train  # after validation: importing torch stacks takes a while

        result = train(config, args.device)
    except (ValueError, FileNotFoundError, DatasetError, TrainStateError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if result.refiner_path is not None:
        print(f"trained {result.step} steps; refiner weights: {result.refiner_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
