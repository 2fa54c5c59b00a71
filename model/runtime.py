"""How inference runs on a device: one of each policy, used by the image predictor, the video tracker and the service.

    resolve_device("auto")                  # cuda if torch sees a GPU, else cpu
    enable_tf32(device)                     # process-wide: the service calls it once at start-up
    with inference_context(device): ...     # inference mode; bf16 autocast on CUDA, as SAM 2 runs there
    with device_job(device, urgent=True): ...   # one job on its thread's own CUDA stream, finished on exit
    timer = StageTimer(device, timings)     # seconds per stage into ``timings`` (synchronised on CUDA)
    with timer.stage("decoder"): ...

Nothing here changes global state unless called: building a model sets no flag (``enable_tf32`` is the one
function that does, and says so).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager

import torch
from torch import nn


def resolve_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: CUDA was asked for but torch sees no GPU")
    return device


def enable_tf32(device: str | torch.device) -> bool:
    """TF32 matmuls and convolutions for the fp32 parts of bf16-autocast inference on Ampere and newer, as SAM 2's
    own examples set them. These are torch's process-wide flags: a server calls this once at start-up. Returns
    whether they were switched on (never on a CPU or an older GPU)."""
    device = torch.device(device)
    if device.type != "cuda" or torch.cuda.get_device_properties(device).major < 8:
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return True


@contextmanager
def inference_context(device: str | torch.device):
    """How every inference call runs: inference mode, and on CUDA bf16 autocast as SAM 2 runs there."""
    with ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        if torch.device(device).type == "cuda":
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        yield


def this_thread_only(hook: Callable) -> Callable:
    """``hook`` (a module's forward hook or pre-hook) acting only on calls made on the thread that wraps it: the
    device worker's threads share one model, and a hook one job sets must not see the other thread's calls."""
    owner = threading.get_ident()

    def filtered(*args, **kwargs):
        return hook(*args, **kwargs) if threading.get_ident() == owner else None

    return filtered


_thread_streams = threading.local()


@contextmanager
def device_job(device: str | torch.device, urgent: bool = False):
    """One job of a thread that shares the device with others: on CUDA it runs on the thread's own stream
    (``urgent``: high priority, so a click's kernels go ahead of a video frame's queued ones) and is finished when
    the block ends, so what it hands back is complete for any thread. A no-op on a CPU."""
    device = torch.device(device)
    if device.type != "cuda":
        yield
        return
    streams = _thread_streams.__dict__.setdefault("by_device", {})
    key = (device, urgent)
    if key not in streams:  # lower numbers run first; torch maps -1 to the device's highest priority if past it
        streams[key] = torch.cuda.Stream(device, priority=-1 if urgent else 0)
    stream = streams[key]
    stream.wait_stream(torch.cuda.default_stream(device))  # work queued before the job (e.g. loading) comes first
    with torch.cuda.stream(stream):
        yield
    stream.synchronize()


def inference_dtype(device: str | torch.device) -> str:
    """What ``inference_context`` computes in on ``device``, in words (for /v1/model)."""
    return "bfloat16 (autocast)" if torch.device(device).type == "cuda" else "float32"


def synchronize(device: str | torch.device) -> None:
    """Waits for queued device work, so a timer measures the work and not its launch (a no-op on CPUs)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StageTimer:
    """Adds the seconds of each stage to ``seconds[stage]``, synchronised on CUDA so a stage counts its own kernels.
    Without a dict (``seconds=None``) it times nothing and costs nothing."""

    def __init__(self, device: str | torch.device, seconds: dict[str, float] | None = None):
        self.device = torch.device(device)
        self.seconds = seconds

    def _now(self) -> float:
        if self.device.type == "cuda":  # this thread's stream only: another thread's jobs are not this stage's
            torch.cuda.current_stream(self.device).synchronize()
        return time.perf_counter()

    def add(self, stage: str, seconds: float) -> None:
        if self.seconds is not None:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    @contextmanager
    def stage(self, stage: str):
        if self.seconds is None:
            yield
            return
        start = self._now()
        try:
            yield
        finally:
            self.add(stage, self._now() - start)

    @contextmanager
    def module(self, module: nn.Module, stage: str):
        """Times every call of ``module`` made inside the block (forward hooks): a stage that runs inside a call
        the caller does not own (memory attention inside sam2's tracking step). Calls from other threads sharing
        the module are not counted."""
        if self.seconds is None:
            yield
            return
        started: list[float] = []
        pre = module.register_forward_pre_hook(this_thread_only(lambda *_: started.append(self._now())))
        post = module.register_forward_hook(this_thread_only(lambda *_: self.add(stage, self._now() - started.pop())))
        try:
            yield
        finally:
            pre.remove()
            post.remove()


__all__ = [
    "StageTimer",
    "device_job",
    "enable_tf32",
    "inference_context",
    "inference_dtype",
    "resolve_device",
    "synchronize",
    "this_thread_only",
]
