"""Every hook into sam2: the process-wide ones the builder installs, and per-call forward hooks that observe a module.

    install()                       # idempotent; called by ``builder.build_sam2_base``, never at import time
    with capture_io(module) as seen: module(...)    # seen["args"], seen["kwargs"], seen["output"]

``install`` puts in place what sam2 needs in this process: hole filling without sam2's compiled extension
(``fill_holes.install``), which sam2's own predictors use too, and no progress bars on stderr
(``progress.install``). ``installed()`` says whether they are in place.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ..runtime import this_thread_only
from . import fill_holes, progress


def install() -> None:
    """Installs the process-wide hooks (idempotent)."""
    fill_holes.install()
    progress.install()


def installed() -> bool:
    return fill_holes.installed() and progress.installed()


@contextmanager
def capture_io(module: nn.Module):
    """Records the positional and keyword inputs and the output of ``module``'s next call on this thread (a
    forward hook, no copy): ``seen["args"]``, ``seen["kwargs"]``, ``seen["output"]``. Calls from other threads
    (the device worker's other thread sharing the model) are not seen."""
    seen: dict = {}

    def hook(_m, args, kwargs, output):
        seen["args"], seen["kwargs"], seen["output"] = args, kwargs, output

    handle = module.register_forward_hook(this_thread_only(hook), with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def promote_memory_dtype(memory_attention: nn.Module) -> None:
    """Memory attention of a float32 model outside autocast gets its memory as float32 (idempotent).

    sam2's predictors keep spatial memories in bfloat16; ``torch.cat`` with the float32 object pointers promotes
    them. When an object is tracked on a frame before its first prompt (``propagate_in_video`` from an earlier
    frame) no pointer is in reach and the bf16 memory alone meets float32 weights: sam2 raises on a CPU. The
    memory is then promoted as ``torch.cat`` would have. Under autocast (CUDA) nothing changes."""
    if getattr(memory_attention, "_sam2refiner_promotes_memory", False):
        return

    def promote(_module, args, kwargs):
        memory, curr = kwargs.get("memory"), kwargs.get("curr")
        if memory is None or not curr or torch.is_autocast_enabled(memory.device.type):
            return None
        dtype = curr[0].dtype if isinstance(curr, (list, tuple)) else curr.dtype
        if memory.dtype == dtype:
            return None
        return args, {**kwargs, "memory": memory.to(dtype)}

    memory_attention.register_forward_pre_hook(promote, with_kwargs=True)
    memory_attention._sam2refiner_promotes_memory = True


__all__ = ["capture_io", "install", "installed", "promote_memory_dtype"]
