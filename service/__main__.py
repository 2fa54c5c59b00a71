"""``python -m sam2refiner.service``: serves the app with uvicorn, as the settings (SAM2REFINER_* variables) say."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile

import uvicorn

from .core import logging as service_logging
from .core.settings import get_settings

log = logging.getLogger("sam2refiner.service")


def _prepare_multiprocess_metrics(workers: int) -> None:
    """Several workers share /metrics through prometheus-client's multiprocess folder (set before it loads)."""
    if workers <= 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="sam2refiner-metrics-")
    shutil.rmtree(folder, ignore_errors=True)  # stale files of a previous run would be summed in
    os.makedirs(folder, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def main(argv: list[str] | None = None) -> int:
    if argv:
        print("sam2refiner serve takes no arguments: every setting is a SAM2REFINER_* variable", file=sys.stderr)
        return 2
    settings = get_settings()
    service_logging.configure(settings)
    _prepare_multiprocess_metrics(settings.workers)
    weights = (
        str(settings.sam2_checkpoint)
        if settings.sam2_checkpoint is not None
        else "the official file (Hugging Face Hub cache), random weights if it cannot be had"
        if settings.fetch_weights
        else "RANDOM WEIGHTS (fetching is off)"
    )
    refiner = (
        str(settings.refiner_checkpoint)
        if settings.refiner_checkpoint is not None
        else "RANDOM WEIGHTS"
        if settings.random_refiner
        else "none (SAM 2 alone)"
    )
    log.warning(
        "starting SAM2Refiner on http://%s:%d: config %s, image_size %d, device %s, %d worker(s); "
        "SAM 2: %s; refiner: %s (each worker logs its device and dtype once loaded)",
        settings.host,
        settings.port,
        settings.sam2_config,
        settings.image_size,
        settings.device,
        settings.workers,
        weights,
        refiner,
    )
    if settings.workers > 1 and settings.redis_url is None:
        log.warning(
            "%d workers but no SAM2REFINER_REDIS_URL: video sessions live in one worker's memory and "
            "cannot move between workers; set a Redis URL",
            settings.workers,
        )
    uvicorn.run(
        "sam2refiner.service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        proxy_headers=True,
        # Over this uvicorn closes the socket (1009); below it the app answers too-large messages with too_large.
        ws_max_size=settings.ws_max_message_bytes,
        # After the app's own drain (video/draining.py), uvicorn waits at most this long for what is left.
        timeout_graceful_shutdown=max(1, round(settings.drain_timeout_s)),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
