"""``sam2refiner``: one command for everything the project runs.

    sam2refiner serve                          # the service (SAM2REFINER_* settings), as python -m sam2refiner.service
    sam2refiner train --config configs/smoke_cpu.yaml [key=value ...]
    sam2refiner evaluate --manifest ... --config hiera_l
    sam2refiner download hiera_l [--to weights]

Each subcommand hands the rest of the command line to its module's own ``main`` (its ``--help`` is there).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "serve": ("sam2refiner.service.__main__", "serve the API and the web page with uvicorn"),
    "train": ("sam2refiner.model.train", "train the refiner modules on a frozen SAM 2"),
    "evaluate": ("sam2refiner.model.evaluate", "the paper's evaluation (Tables 1-4)"),
    "download": ("sam2refiner.weights.download", "fetch the official SAM 2.1 checkpoints"),
}


def usage() -> str:
    lines = ["usage: sam2refiner COMMAND [ARGS ...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"sam2refiner: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"sam2refiner {name}", *rest]
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
