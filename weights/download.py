"""Fetches the official SAM 2.1 checkpoints from the Hugging Face Hub, by the service's own code path.

    sam2refiner download hiera_l              # into the Hub cache: `sam2refiner serve` then finds it by itself
    sam2refiner download hiera_l --to weights # a plain copy here, for SAM2REFINER_SAM2_CHECKPOINT / Docker's /weights
    sam2refiner download --all

Download, resume, progress bar, cache and the size check are huggingface_hub's (HF_ENDPOINT, HF_HOME, HF_TOKEN
apply). Prints each file's path and sha256 (the same sum GET /v1/model shows for the file it loaded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam2refiner.model.weights.digest import file_sha256
from sam2refiner.model.weights.official import OFFICIAL_FILES, FetchError, fetch_official_checkpoint


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="*", metavar="CONFIG", help=f"one of {list(OFFICIAL_FILES)}")
    p.add_argument("--all", action="store_true")
    p.add_argument("--to", type=Path, default=None, help="a folder for plain copies (default: the Hub cache)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds the Hub may take to answer")
    p.add_argument("--endpoint", default=None, help="a Hub mirror (default: HF_ENDPOINT, else huggingface.co)")
    args = p.parse_args(argv)
    configs = list(OFFICIAL_FILES) if args.all else args.configs
    if not configs:
        p.error("name a config or use --all")
    unknown = [c for c in configs if c not in OFFICIAL_FILES]
    if unknown:
        p.error(f"unknown configs {unknown}; choose from {list(OFFICIAL_FILES)}")
    failed = False
    for config in configs:
        try:
            path = fetch_official_checkpoint(config, args.timeout, args.endpoint, local_dir=args.to)
        except FetchError as e:
            print(f"{config}: {e}", file=sys.stderr)
            failed = True
            continue
        print(f"{config}: {path} sha256 {file_sha256(path)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
