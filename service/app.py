"""The FastAPI app factory. The model is built once per process, in the lifespan, and kept on ``app.state``.

    app = create_app(Settings(sam2_config="hiera_t", image_size=256))   # tests, embedding
    uvicorn service.app:create_app --factory                              # what python -m sam2refiner.service runs

Other features add their router here with one ``include_router`` line. State the routes share (the engine, the
video sessions and their store) is built in the lifespan and closed at its end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from . import log_redaction, metrics
from .draining import Drain
from .error_handlers import install_error_handlers
from .inference import InferenceEngine
from .middleware import ApiKeyAuth, BodySizeLimit, RequestMetrics
from .openapi import install_openapi
from .routes import health, model_info, segment, video
from .routes import metrics as metrics_route
from .routes.web import mount_web_app
from .settings import Settings, get_settings
from .video_sessions import VideoSessions

log = logging.getLogger("sam2refiner.service")


def log_model_banner(description: dict) -> None:
    """Says loudly what this process runs on; random weights get a banner nobody can miss."""
    log.warning(
        "SAM2Refiner serving %s at %d on %s (%s); refiner: %s (modules %s, refine by default: %s)",
        description["config"],
        description["image_size"],
        description["device"],
        description["dtype"],
        description["refiner"],
        description["modules"],
        description["refine_default"],
    )
    log.warning(
        "config %s: %s; SAM 2 weights: %s",
        description["config"],
        description["config_reason"],
        description["weights"]["sam2_source"],
    )
    warning = description["weights"]["warning"]
    if warning:
        bar = "!" * len(warning)
        log.warning("\n%s\n%s\n%s", bar, warning, bar)


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = InferenceEngine(app.state.settings)
    app.state.engine = engine
    await run_in_threadpool(engine.load)  # a bad config or checkpoint fails the start-up, loudly
    log_model_banner(engine.describe())
    settings = app.state.settings
    sessions = app.state.video_sessions = VideoSessions(engine, settings)  # Redis is reached on first use
    app.state.drain.install_sigterm(settings.drain_timeout_s, settings.drain_delay_s)
    # Warm-up runs in the background: /healthz answers at once, /readyz (and /segment) once it is done.
    warmup = asyncio.create_task(_warm_up(engine))
    gauges = asyncio.create_task(_refresh_video_metrics(sessions, min(5.0, settings.video_ttl_s)))
    try:
        yield
    finally:
        warmup.cancel()
        gauges.cancel()
        sessions.close()  # releases leases a Redis failure left behind
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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not logging.getLogger().handlers:  # uvicorn's worker processes configure only uvicorn's own loggers
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_redaction.install(settings.api_key.get_secret_value() if settings.api_key else None)
    app = FastAPI(title="SAM2Refiner", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.drain = Drain()
    install_error_handlers(app)
    install_openapi(app)
    for router in (health.router, metrics_route.router, model_info.router, segment.router, video.router):
        app.include_router(router)
    mount_web_app(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyAuth, settings=settings)  # before any body is read
    app.add_middleware(RequestMetrics)  # added last = outermost: it also counts the 401s and 413s
    return app
