"""The FastAPI app factory: one router per feature, the middleware, the error handlers and the OpenAPI contract.

    app = create_app(Settings(sam2_config="hiera_t", image_size=256))   # tests, embedding
    uvicorn sam2refiner.service.app:create_app --factory                  # what sam2refiner serve runs

What the routes share (the model, the image engine, the video sessions and their store) is built once per process
in ``lifespan.py``. A new feature adds its router here with one ``include_router`` line.
"""

from __future__ import annotations

from fastapi import FastAPI

from .core import logging as service_logging
from .core.error_handlers import install_error_handlers
from .core.middleware import ApiKeyAuth, BodySizeLimit, RequestMetrics
from .core.openapi import install_openapi
from .core.settings import Settings, get_settings
from .image.router import router as image_router
from .integrations.labelstudio.router import router as labelstudio_router
from .lifespan import lifespan
from .system.router import router as system_router
from .video.draining import Drain
from .video.router import router as video_router
from .video_files.router import router as video_files_router
from .web.router import mount_web_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    service_logging.configure(settings, only_if_unset=True)  # uvicorn's workers configure only its own loggers
    app = FastAPI(title="SAM2Refiner", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.drain = Drain()
    install_error_handlers(app)
    install_openapi(app)
    for router in (system_router, image_router, video_router, video_files_router, labelstudio_router):
        app.include_router(router)
    mount_web_app(app)
    # Video files are uploaded whole (their own limit; the multipart envelope adds a few hundred bytes).
    uploads = {"/videos": settings.video_file_max_bytes + 64 * 1024}
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, larger=uploads)
    app.add_middleware(ApiKeyAuth, settings=settings)  # before any body is read
    app.add_middleware(RequestMetrics)  # added last = outermost: it also counts the 401s and 413s
    return app
