"""What a worker process builds once and shares between requests, from start-up to shutdown.

At start-up: the model is loaded (a bad config or checkpoint fails the start, loudly), the video sessions and
their store are made (Redis is reached on first use), the SIGTERM drain is installed, and the warm-up starts in
the background (``/healthz`` answers at once, ``/readyz`` once it is done). At shutdown, in reverse: the
background tasks, the sessions (leases a Redis failure left behind), the device worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .core import metrics
from .image.engine import InferenceEngine
from .system.model_info import log_model_banner
from .video.sessions import VideoSessions

log = logging.getLogger("sam2refiner.service")


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = app.state.settings
    engine = InferenceEngine(settings)
    app.state.engine = engine
    await run_in_threadpool(engine.load)
    log_model_banner(engine.describe())
    sessions = app.state.video_sessions = VideoSessions(engine, settings)
    app.state.drain.install_sigterm(settings.drain_timeout_s, settings.drain_delay_s)
    warmup = asyncio.create_task(_warm_up(engine))
    gauges = asyncio.create_task(_refresh_video_metrics(sessions, min(5.0, settings.video_ttl_s)))
    try:
        yield
    finally:
        warmup.cancel()
        gauges.cancel()
        sessions.close()
        engine.close()
        metrics.mark_process_dead()


async def _refresh_video_metrics(sessions: VideoSessions, period_s: float) -> None:
    """Sessions also expire while no message comes; the gauges follow."""
    while True:
        await asyncio.sleep(period_s)
        sessions.refresh_metrics()


async def _warm_up(engine: InferenceEngine) -> None:
    t = time.perf_counter()
    try:
        await engine.warmup()
    except Exception:  # noqa: BLE001  (stay alive and not ready: /readyz tells the orchestrator)
        log.exception("warm-up failed: the service stays not ready")
        return
    log.warning("ready (warm-up took %.1f s)", time.perf_counter() - t)
