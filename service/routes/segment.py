"""POST /segment: parse and validate, hand the prompts to the engine, encode the masks."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from .. import metrics
from ..deps import EngineDep, SettingsDep
from ..images import decode_base64_image, image_id_for
from ..inference import SegmentResult
from ..mask_codecs import encode_mask
from ..openapi import error_responses
from ..prompts import check_limits, prepare_objects
from ..schemas import SegmentRequest, SegmentResponse

router = APIRouter(tags=["segment"])
ROUTE = "/segment"


def _decode(data: str, max_pixels: int):
    pixels = decode_base64_image(data, max_pixels, "image")
    return pixels, image_id_for(pixels)


def _encode_outputs(result: SegmentResult, fmt: str) -> list[dict]:
    return [
        {"masks": [
            {"mask": encode_mask(mask, fmt), "score": float(score), "logits_id": logits_id}
            for mask, score, logits_id in zip(obj.masks, obj.scores, obj.logits_ids)
        ]}
        for obj in result.objects
    ]


@router.post(ROUTE, response_model=SegmentResponse, responses=error_responses(404, 409, 413, 422, 503))
async def segment(req: SegmentRequest, engine: EngineDep, settings: SettingsDep) -> dict:
    start = time.perf_counter()
    check_limits(req, settings)
    refine = engine.resolve_refine(req.refine)  # before any decoding: a server without a refiner says so at once
    decode_s, pixels, features = 0.0, None, None
    if req.image is not None:
        pixels, image_id = await run_in_threadpool(_decode, req.image, settings.max_image_pixels)
        decode_s = time.perf_counter() - start
        features = engine.features.get(image_id)
        height, width = pixels.shape[:2]
    else:
        image_id = req.image_id
        features = engine.cached_features(image_id)  # holding it keeps it alive even if evicted meanwhile
        height, width = features.orig_hw[0]
    objects = prepare_objects(req, height, width, image_id, engine)

    result = await engine.segment(pixels, image_id, features, objects, req.multimask, refine)

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
        "image_id": result.image_id, "width": result.width, "height": result.height, "format": req.format,
        "objects": encoded, "timings_ms": timings,
    }
