"""The loaded model, its device worker and the refine policy: built once per process, in the lifespan, and shared
by every feature (the image engine, the video sessions, ``/v1/model``).

    runtime = Runtime.load(settings)          # blocking: the weights chosen, the model built, the worker started
    await runtime.worker.submit(fn)           # every torch call runs on the device worker's threads
    runtime.refine.resolve(request.refine)    # what a request's refine means here
    runtime.check_ready()                     # 503 not_ready until the warm-up is done
"""

from __future__ import annotations

import torch

from sam2refiner.model import RefinerSwitches, SAM2Refiner, WeightsInfo, load_model
from sam2refiner.model.runtime import device_job, enable_tf32, inference_dtype

from . import metrics
from .errors import NotReadyError
from .refine import RefinePolicy
from .settings import Settings
from .worker import INTERACTIVE, DeviceWorker


class Runtime:
    def __init__(self, settings: Settings, model: SAM2Refiner, weights: WeightsInfo, worker: DeviceWorker):
        self.settings = settings
        self.model = model
        self.weights = weights  # which SAM 2 config and weights, and why; which refiner
        self.worker = worker
        self.refine = RefinePolicy(weights.refiner, model.config.modules)
        self.ready = False  # set once the warm-up is done (/readyz)

    @classmethod
    def load(cls, settings: Settings) -> Runtime:
        """Builds the model on its device (blocking: call it from a thread) and starts the device worker."""
        s = settings
        model, weights = load_model(  # the model layer chooses and reads the weights, once
            config=s.sam2_config,
            image_size=s.image_size,
            device=s.device,
            sam2_checkpoint=s.sam2_checkpoint,
            refiner_checkpoint=s.refiner_checkpoint,
            seed=s.seed,
            modules=_refiner_modules(s),
            video=True,  # sam2's video-builder options too: they only change memory encoding (video sessions)
            fetch=s.fetch_weights,
            fetch_timeout_s=s.fetch_timeout_s,
        )
        enable_tf32(model.device)  # torch's process-wide TF32 policy (Ampere and newer), set once at start-up
        worker = DeviceWorker(
            str(model.device),
            s.queue_size,
            s.retry_after_s,
            stream_thread=s.stream_thread,
            job_context=lambda lanes: device_job(model.device, urgent=INTERACTIVE in lanes),
        )
        return cls(settings, model, weights, worker)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> str:
        return inference_dtype(self.device)

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
