"""What a worker process builds once and shares between requests, from start-up to shutdown.

At start-up: the runtime (the weights chosen, the model loaded, the device worker started; a bad config or
checkpoint fails the start, loudly), the image engine, the video sessions and their store (Redis is reached on
first use), the SIGTERM drain, and the warm-up in the background (``/healthz`` answers at once, ``/readyz`` once it
is done). At shutdown, in reverse: the background tasks, the sessions (leases a Redis failure left behind), the
device worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .core import metrics
from .core.runtime import Runtime
from .image.browser_decoder import BrowserDecoder
from .image.engine import ImageEngine
from .system import model_info
from .video.sessions import VideoSessions
from .video_files.sessions import FileSessions

log = logging.getLogger("sam2refiner.service")


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = app.state.settings
    runtime = app.state.runtime = await run_in_threadpool(Runtime.load, settings)
    model_info.announce(runtime)
    engine = app.state.image_engine = ImageEngine(runtime, settings)
    app.state.browser_decoder = BrowserDecoder(runtime, settings)  # exports on its first request
    sessions = app.state.video_sessions = VideoSessions(runtime, settings)
    files = app.state.file_sessions = FileSessions(runtime, settings)
    app.state.drain.install_sigterm(settings.drain_timeout_s, settings.drain_delay_s)
    warmup = asyncio.create_task(_warm_up(runtime, engine if settings.warmup else None))
    gauges = asyncio.create_task(_refresh_video_metrics(sessions, min(5.0, settings.video_ttl_s)))
    try:
        yield
    finally:
        warmup.cancel()
        gauges.cancel()
        sessions.close()
        files.close()
        runtime.close()
        metrics.mark_process_dead()


async def _refresh_video_metrics(sessions: VideoSessions, period_s: float) -> None:
    """Sessions also expire while no message comes; the gauges follow."""
    while True:
        await asyncio.sleep(period_s)
        sessions.refresh_metrics()


async def _warm_up(runtime: Runtime, engine: ImageEngine | None) -> None:
    """One dummy image request (unless warm-up is off), then ready."""
    t = time.perf_counter()
    try:
        if engine is not None:
            await engine.warmup()
    except Exception:  # noqa: BLE001  (stay alive and not ready: /readyz tells the orchestrator)
        log.exception("warm-up failed: the service stays not ready")
        return
    runtime.mark_ready()
    log.warning("ready (warm-up took %.1f s)", time.perf_counter() - t)
