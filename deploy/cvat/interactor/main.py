"""CVAT interactor (nuclio handler): positive and negative clicks and an optional box -> the object's mask, by
``POST /segment`` of a SAM2Refiner service (``SAM2REFINER_URL``, ``SAM2REFINER_API_KEY``).

CVAT's lambda manager sends {"image": base64, "pos_points": [[x, y], ...], "neg_points": [...], "obj_bbox":
[[x0, y0], [x1, y1]] or null}; the answer is {"mask": rows of 0/255}. The refiner runs when the service has one
(its default) unless ``SAM2REFINER_REFINE`` says true or false. The image is sent once per frame: further clicks
on the same frame reuse the service's cached encoding.
"""

import base64
import binascii
import hashlib
import json
import os

import httpx
import numpy as np

from sam2refiner_client import SAM2RefinerClient, ServiceError


def init_context(context):
    context.user_data.client = SAM2RefinerClient(
        os.environ.get("SAM2REFINER_URL", "http://sam2refiner:8000"),
        api_key=os.environ.get("SAM2REFINER_API_KEY") or None,
        timeout=float(os.environ.get("SAM2REFINER_TIMEOUT_S", "60")),
    )
    context.user_data.refine = _refine_setting(os.environ.get("SAM2REFINER_REFINE", ""))
    context.user_data.image_digest = None


def handler(context, event):
    try:
        body = _json(event.body)
        image = base64.b64decode(body["image"], validate=True)
        positive = [_point(p) for p in body.get("pos_points") or []]
        negative = [_point(p) for p in body.get("neg_points") or []]
        box = _box(body.get("obj_bbox"))
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        return _error(context, 400, f"not a CVAT interactor request: {e}")
    if not positive and box is None:
        return _error(context, 400, "give at least one positive point or a box")
    client = context.user_data.client
    digest = hashlib.sha256(image).digest()
    if digest != context.user_data.image_digest:  # a new frame: upload it; the same frame: its image_id
        client.set_image(image)
        context.user_data.image_digest = digest
    points = positive + negative
    labels = [1] * len(positive) + [0] * len(negative)
    try:
        result = client.segment(
            points=points or None,
            labels=labels or None,
            box=box,
            multimask=len(points) == 1 and box is None,  # one click is ambiguous: the best of three
            refine=context.user_data.refine,
        )
    except ServiceError as e:
        return _error(context, e.status if 400 <= (e.status or 0) < 600 else 502, str(e))
    except httpx.HTTPError as e:  # the service is down or unreachable: fail at once, saying where
        return _error(context, 502, f"the SAM2Refiner service at {client.http.base_url} is unreachable: {e}")
    mask = result.objects[0].best.astype(np.uint8) * 255
    return context.Response(
        body=json.dumps({"mask": mask.tolist()}), headers={}, content_type="application/json", status_code=200
    )


def _json(body):
    return json.loads(body) if isinstance(body, (bytes, str)) else body


def _point(p) -> list:
    x, y = p
    return [float(x), float(y)]


def _box(corners):
    if not corners:
        return None
    (x0, y0), (x1, y1) = corners
    return [float(min(x0, x1)), float(min(y0, y1)), float(max(x0, x1)), float(max(y0, y1))]


def _refine_setting(text):
    text = text.strip().lower()
    return True if text == "true" else False if text == "false" else None


def _error(context, status, message):
    context.logger.warn(message)
    return context.Response(
        body=json.dumps({"error": message}), headers={}, content_type="application/json", status_code=status
    )
