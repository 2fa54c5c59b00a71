"""POST /segment: parse and validate, hand the prompts to the engine, encode the masks.

With ``"stream": true`` the answer is newline-delimited JSON (``application/x-ndjson``; NDJSON rather than
server-sent events: one plain POST, one JSON object per line, readable by any HTTP client): first SAM 2's masks
(``"stage": "sam2"``, from one global encoder pass), then the refined ones (``"stage": "refined"``, equal to the
non-streamed answer), each part a normal answer body plus ``stage`` and ``final``. With refine off or no refiner
it is a single part, stage "sam2", final. An error after the stream began is a last line
``{"error": {...}, "final": true}``; one before it is the usual error response.
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..core import metrics
from ..core.deps import BrowserDecoderDep, ImageEngineDep, SettingsDep
from ..core.error_handlers import ErrorBody, as_service_error
from ..core.errors import ServiceError, UnknownIdError
from ..core.images import decode_base64_image, image_id_for
from ..core.masks import encode_mask
from ..core.openapi import error_responses
from ..core.prompts import check_prompt_set, prompt_limits
from .browser_decoder import features_body
from .engine import EngineResult
from .prompts import prepare_objects
from .protocol import DecoderInfo, SegmentRequest, SegmentResponse

router = APIRouter(tags=["segment"])
ROUTE = "/segment"
log = logging.getLogger(__name__)


def _decode(data: str, max_pixels: int):
    pixels = decode_base64_image(data, max_pixels, "image")
    return pixels, image_id_for(pixels)


def _encode_outputs(result: EngineResult, fmt: str) -> list[dict]:
    return [
        {
            "masks": [
                {"mask": encode_mask(mask, fmt), "score": float(score), "logits_id": logits_id}
                for mask, score, logits_id in zip(obj.masks, obj.scores, obj.logits_ids)
            ]
        }
        for obj in result.objects
    ]


async def _body(result: EngineResult, req: SegmentRequest, start: float, decode_s: float) -> dict:
    """The answer body of one result (one stage), with its timings, observed in the stage metrics."""
    t = time.perf_counter()
    encoded = await run_in_threadpool(_encode_outputs, result, req.format)
    stages = {**result.timings, "decode": decode_s, "encode_output": time.perf_counter() - t}
    for stage in ("decode", "encode", "decoder", "refine", "encode_output"):
        if stage != "encode" or not result.cache_hit:
            metrics.STAGE_SECONDS.labels(ROUTE, stage).observe(stages[stage])
    stages["total"] = time.perf_counter() - start
    timings = {k: round(v * 1000.0, 3) for k, v in stages.items()}
    timings["cache_hit"] = result.cache_hit
    timings["batch_size"] = result.batch_size
    return {
        "image_id": result.image_id,
        "width": result.width,
        "height": result.height,
        "format": req.format,
        "objects": encoded,
        "timings_ms": timings,
    }


@router.post(ROUTE, response_model=SegmentResponse, responses=error_responses(404, 409, 413, 422, 503))
async def segment(req: SegmentRequest, engine: ImageEngineDep, settings: SettingsDep):
    start = time.perf_counter()
    check_prompt_set(req.objects, prompt_limits(settings))  # before any decoding
    refine = engine.refine.resolve(req.refine)  # a server without a refiner says so at once
    decode_s = 0.0
    if req.image is not None:
        pixels, image_id = await run_in_threadpool(_decode, req.image, settings.max_image_pixels)
        decode_s = time.perf_counter() - start
        objects = prepare_objects(req, *pixels.shape[:2], image_id, engine)  # validated before any work starts
        source = engine.feature_source(image_id, pixels)
    else:
        image_id = req.image_id
        source = engine.feature_source(image_id)  # cached, or still being encoded; 404 otherwise
        objects = prepare_objects(req, *source.orig_hw, image_id, engine)

    if not req.stream:
        result = await engine.segment(source, image_id, objects, req.multimask, refine)
        return await _body(result, req, start, decode_s)
    parts = engine.segment_stream(source, image_id, objects, req.multimask, refine)
    first = await parts.__anext__()  # errors before the first part are ordinary error responses
    return StreamingResponse(_ndjson(first, parts, req, start, decode_s), media_type="application/x-ndjson")


async def _ndjson(first: EngineResult, rest, req: SegmentRequest, start: float, decode_s: float):
    result = first
    try:
        while True:
            yield (
                json.dumps({**await _body(result, req, start, decode_s), "stage": result.stage, "final": result.final})
                + "\n"
            )
            if result.final:
                return
            result = await rest.__anext__()
    except Exception as e:  # noqa: BLE001  (the status line is sent: the error becomes the last line)
        if not isinstance(e, ServiceError):
            log.exception("streamed /segment failed after its first part")
        yield json.dumps({**ErrorBody.from_error(as_service_error(e)), "final": True}) + "\n"


# ---------------------------------------------------------------------------------- the page's in-browser decoder
_BINARY = {"content": {"application/octet-stream": {}}}


@router.get("/segment/decoder", response_model=DecoderInfo, responses=error_responses(503))
async def decoder_info(decoder: BrowserDecoderDep):
    """Where SAM 2's decoder is, as ONNX (exported on the first call: seconds), and what it takes."""
    path = await decoder.model_path()
    return DecoderInfo(model=f"segment/decoder/{path.name}", image_size=decoder.runtime.model.image_size)


@router.get(
    "/segment/decoder/{name}",
    response_class=FileResponse,
    responses={200: {**_BINARY, "description": "the ONNX model"}, **error_responses(404, 503)},
)
async def decoder_model(decoder: BrowserDecoderDep, name: str = Path(max_length=200)):
    """The exported decoder; its name holds its weights' hash, so it is cached for good."""
    path = await decoder.model_path()
    if name != path.name:
        raise UnknownIdError("name", f"no decoder {name!r} here: GET /segment/decoder names the current one")
    return FileResponse(
        path, media_type="application/octet-stream", headers={"Cache-Control": "max-age=31536000, immutable"}
    )


@router.get(
    "/segment/features/{image_id}",
    response_class=Response,
    responses={200: {**_BINARY, "description": "float16 features, gzip content-encoded"}, **error_responses(404, 503)},
)
async def decoder_features(engine: ImageEngineDep, image_id: str = Path(max_length=200)):
    """The decoder's image inputs of a cached image (SAM 2's path): float16, gzip (``browser_decoder.py``)."""
    body = await features_body(engine, image_id)
    return Response(
        body, media_type="application/octet-stream", headers={"Content-Encoding": "gzip", "Cache-Control": "no-store"}
    )
