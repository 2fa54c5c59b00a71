"""Every hook into sam2: the process-wide ones the builder installs, and per-call forward hooks that observe a module.

    install()                       # idempotent; called by ``builder.build_sam2_base``, never at import time
    with capture_io(module) as seen: module(...)    # seen["args"], seen["kwargs"], seen["output"]

``install`` puts in place what sam2 needs in this process: hole filling without sam2's compiled extension
(``fill_holes.install``), which sam2's own predictors use too. ``installed()`` says whether it is in place.
"""

from __future__ import annotations

from contextlib import contextmanager

from torch import nn

from . import fill_holes


def install() -> None:
    """Installs the process-wide hooks (idempotent)."""
    fill_holes.install()


def installed() -> bool:
    return fill_holes.installed()


@contextmanager
def capture_io(module: nn.Module):
    """Records the positional and keyword inputs and the output of ``module``'s next call (a forward hook, no
    copy): ``seen["args"]``, ``seen["kwargs"]``, ``seen["output"]``."""
    seen: dict = {}

    def hook(_m, args, kwargs, output):
        seen["args"], seen["kwargs"], seen["output"] = args, kwargs, output

    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


__all__ = ["capture_io", "install", "installed"]
