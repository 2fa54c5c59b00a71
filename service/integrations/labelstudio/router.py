"""``/labelstudio``: a Label Studio ML backend, served in-process (connect it in a project's Model settings as
``http://HOST:PORT/labelstudio``; with an API key, as basic auth with the key as the password).

    GET  /labelstudio/health     Label Studio's health check
    POST /labelstudio/setup      the project's labeling config checked; its model version
    POST /labelstudio/predict    a smart tool's regions (interactive), or predictions for tasks
    POST /labelstudio/webhook    training events: answered, nothing trained
    GET  /labelstudio/versions   the model version, for Label Studio's version list

Label Studio reports a failed call as its status line only ("422 Client Error ... for url"); the reason is in
the answer's body (the service's one error body) and in the service's log.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from fastapi import APIRouter, Request
from starlette.requests import HTTPConnection

from ...core.errors import NotReadyError, ServiceError
from ...core.openapi import error_responses
from .backend import LabelStudioBackend
from .protocol import PredictRequest, SetupRequest

PREFIX = "/labelstudio"
# Label Studio's protocol, not this service's API: documented in docs/annotation-tools.md, not in /openapi.json.
router = APIRouter(prefix=PREFIX, tags=["label studio"], include_in_schema=False)
log = logging.getLogger("sam2refiner.service.labelstudio")


def backend_of(conn: HTTPConnection) -> LabelStudioBackend:
    """The process's backend, made on first use from what the lifespan built."""
    state = conn.app.state
    backend = getattr(state, "labelstudio", None)
    if backend is None:
        runtime, engine = getattr(state, "runtime", None), getattr(state, "image_engine", None)
        if runtime is None or engine is None:
            raise NotReadyError(None, "the model is still loading; retry shortly")
        backend = state.labelstudio = LabelStudioBackend(runtime, engine, state.settings)
    return backend


@router.get("/health")
@router.get("/")
async def health(request: Request) -> dict:
    runtime = getattr(request.app.state, "runtime", None)
    return {"status": "UP" if runtime is not None and runtime.ready else "NOT_READY", "model_class": "SAM2Refiner"}


@router.post("/setup", responses=error_responses(409, 422))
async def setup(req: SetupRequest, request: Request) -> dict:
    with _logged("setup"):
        return {"model_version": backend_of(request).setup(req)}


@router.post("/predict", responses=error_responses(409, 413, 422, 503))
async def predict(req: PredictRequest, request: Request) -> dict:
    with _logged("predict"):
        return {"results": await backend_of(request).predict(req)}


@router.post("/webhook")
async def webhook(request: Request) -> dict:
    return {"status": "ok", "result": "this backend does not train; the event is ignored"}


@router.get("/versions")
async def versions(request: Request) -> dict:
    backend = backend_of(request)
    return {"versions": [backend.model_version(backend.runtime.refine.default)], "message": ""}


@contextmanager
def _logged(route: str):
    """Label Studio shows only the status of a failed call: the reason goes to the log too."""
    try:
        yield
    except ServiceError as error:
        where = f" ({error.field})" if error.field else ""
        log.warning("label studio %s answered %s%s: %s", route, error.status, where, error.message)
        raise
