"""``sam2refiner-client``: segment one object of an image with a running service and write its mask as a PNG.

sam2refiner-client segment image.jpg --box x0 y0 x1 y1 [--point X Y LABEL ...] --out mask.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import ServiceError
from .http import SAM2RefinerClient


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sam2refiner-client", description="Client of the SAM2Refiner service")
    sub = p.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="segment one object and write its mask as a PNG")
    seg.add_argument("image", type=Path)
    seg.add_argument("--box", nargs=4, type=float, metavar=("X0", "Y0", "X1", "Y1"))
    seg.add_argument(
        "--point",
        nargs=3,
        type=float,
        action="append",
        metavar=("X", "Y", "LABEL"),
        help="a click; LABEL 1 = foreground, 0 = background (repeatable)",
    )
    seg.add_argument("--out", type=Path, default=Path("mask.png"))
    seg.add_argument("--no-refine", action="store_true", help="SAM 2's mask, without the refiner")
    seg.add_argument("--url", default="http://localhost:8000")
    seg.add_argument("--api-key", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.box is None and not args.point:
        print("give --box and/or --point", file=sys.stderr)
        return 2
    points = [[x, y] for x, y, _ in args.point] if args.point else None
    labels = [int(lbl) for _, _, lbl in args.point] if args.point else None
    with SAM2RefinerClient(args.url, api_key=args.api_key) as client:
        client.set_image(args.image)
        try:
            result = client.segment(
                points=points, labels=labels, box=args.box, refine=False if args.no_refine else None
            )
        except ServiceError as e:
            print(e, file=sys.stderr)
            return 1
    obj = result.objects[0]
    Image.fromarray(obj.best.astype(np.uint8) * 255).save(args.out)
    print(
        f"{args.out}: {result.width}x{result.height}, score {obj.scores.max():.3f}, image_id {result.image_id}, "
        f"{result.timings_ms['total']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
