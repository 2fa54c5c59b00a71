"""The loaded model, its device worker and the refine policy: built once per process, in the lifespan, and shared
by every feature (the image engine, the video sessions, ``/v1/model``).

    runtime = Runtime.load(settings)          # blocking: the weights chosen, the model built, the worker started
    await runtime.worker.submit(fn)           # every torch call runs on the one device worker
    runtime.refine.resolve(request.refine)    # what a request's refine means here
    runtime.check_ready()                     # 503 not_ready until the warm-up is done
"""

from __future__ import annotations

import torch

from sam2refiner.model import RefinerSwitches, SAM2Refiner, build_sam2refiner, resolve_device
from sam2refiner.model.checkpoint import read_refiner_checkpoint
from sam2refiner.model.sam2_choice import SAM2Choice, choose_sam2

from . import metrics
from .errors import NotReadyError
from .refine import RefinePolicy
from .settings import Settings
from .worker import DeviceWorker


class Runtime:
    def __init__(self, settings: Settings, model: SAM2Refiner, sam2_choice: SAM2Choice, worker: DeviceWorker):
        self.settings = settings
        self.model = model
        self.sam2_choice = sam2_choice  # which SAM 2 weights and config, and why
        self.worker = worker
        self.refine = RefinePolicy(model.weights.refiner, model.config.modules)
        self.ready = False  # set once the warm-up is done (/readyz)

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        """Builds the model on its device (blocking: call it from a thread) and starts the device worker."""
        s = settings
        refiner_config = read_refiner_checkpoint(s.refiner_checkpoint)[0].sam2_config if s.refiner_checkpoint else None
        sam2_choice = choose_sam2(
            s.sam2_config,
            resolve_device(s.device),
            s.sam2_checkpoint,
            refiner_config=refiner_config,
            fetch=s.fetch_weights,
            fetch_timeout_s=s.fetch_timeout_s,
        )
        model = build_sam2refiner(
            sam2_choice.config,
            s.image_size,
            s.device,
            sam2_checkpoint=sam2_choice.checkpoint,
            refiner_checkpoint=s.refiner_checkpoint,
            seed=s.seed,
            modules=_refiner_modules(s),
            video=True,  # sam2's video-builder options too: they only change memory encoding (video sessions)
        )
        return cls(settings, model, sam2_choice, DeviceWorker(str(model.device), s.queue_size, s.retry_after_s))

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> str:
        return self.model.inference_dtype

    def mark_ready(self) -> None:
        self.ready = True
        metrics.MODEL_READY.set(1)

    def check_ready(self) -> None:
        if not self.ready:
            raise NotReadyError(
                None,
                "the model is still loading or warming up; retry shortly",
                headers={"Retry-After": str(self.settings.retry_after_s)},
            )

    def close(self) -> None:
        self.ready = False
        metrics.MODEL_READY.set(0)
        self.worker.close()


def _refiner_modules(settings: Settings) -> RefinerSwitches | None:
    """A checkpoint brings its own modules; without one, random modules only when asked for explicitly."""
    if settings.refiner_checkpoint is not None:
        return None
    return RefinerSwitches() if settings.random_refiner else RefinerSwitches.off()
