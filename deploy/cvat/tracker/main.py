"""CVAT tracker (nuclio handler): rectangles followed from frame to frame by a SAM2Refiner service's video
sessions, over its WebSocket (``SAM2REFINER_URL``, ``SAM2REFINER_API_KEY``).

CVAT's lambda manager sends {"image": base64, "shapes": [[x0, y0, x1, y1], ...], "states": [state or null, ...]}
and keeps the states this function answers with {"shapes": [...], "states": [...]}. A shape without a state starts
an object: the shapes started together share a new video session, its memory bank in the service's Redis, so any
replica of the service (and of this function) continues it. A state is {"session": id, "obj_id": n}: the next
call sends the frame to that session, which tracks every object it holds into it, and answers each shape with the
box around its object's mask. An object the session no longer holds (its session expired) starts again from its
last box; one that left the frame keeps its last box.
"""

import base64
import binascii
import json
import os
import uuid

import httpx
import numpy as np
from websockets.exceptions import WebSocketException

from sam2refiner_client import ServiceError, VideoSession


def init_context(context):
    base = os.environ.get("SAM2REFINER_URL", "http://sam2refiner:8000").rstrip("/")
    context.user_data.url = "ws" + base[len("http") :] if base.startswith("http") else base
    context.user_data.api_key = os.environ.get("SAM2REFINER_API_KEY") or None
    text = os.environ.get("SAM2REFINER_REFINE", "").strip().lower()
    context.user_data.refine = True if text == "true" else False if text == "false" else None


def handler(context, event):
    try:
        body = json.loads(event.body) if isinstance(event.body, (bytes, str)) else event.body
        frame = base64.b64decode(body["image"], validate=True)
        shapes = [_rectangle(s) for s in body.get("shapes") or []]
        states = list(body.get("states") or [])
    except (KeyError, TypeError, ValueError, binascii.Error) as e:
        return _answer(context, 400, {"error": f"not a CVAT tracker request: {e}"})
    states += [None] * (len(shapes) - len(states))
    new_session = f"cvat-{uuid.uuid4().hex}"
    groups = {}  # session -> [(shape index, obj_id)]
    for i, state in enumerate(states[: len(shapes)]):
        if isinstance(state, dict) and state.get("session") and isinstance(state.get("obj_id"), int):
            groups.setdefault(state["session"], []).append((i, state["obj_id"]))
        else:
            groups.setdefault(new_session, []).append((i, len(groups.get(new_session, [])) + 1))
    out_shapes, out_states = list(shapes), [None] * len(shapes)
    try:
        for session, members in groups.items():
            boxes = _track(context, session, frame, members, shapes, fresh=session == new_session)
            for i, obj_id in members:
                out_shapes[i] = boxes.get(obj_id) or shapes[i]
                out_states[i] = {"session": session, "obj_id": obj_id}
    except ServiceError as e:
        status = e.status if e.status and 400 <= e.status < 600 else 502
        return _answer(context, status, {"error": str(e)})
    except (httpx.HTTPError, OSError, WebSocketException) as e:
        message = f"the SAM2Refiner service at {context.user_data.url} is unreachable: {e}"
        return _answer(context, 502, {"error": message})
    return _answer(context, 200, {"shapes": out_shapes, "states": out_states})


def _track(context, session, frame, members, shapes, fresh):
    """Sends the frame to the session; new objects (and ones it lost) are prompted with their box on it."""
    user = context.user_data
    with VideoSession(user.url, session, refine=user.refine, api_key=user.api_key, timeout=60, retry_s=20) as video:
        reply = video.frame(frame)
        masks = video.masks(reply)
        prompts = [{"obj_id": obj_id, "box": shapes[i]} for i, obj_id in members if fresh or obj_id not in masks]
        if prompts:
            if not fresh:
                context.logger.warn(f"session {session} lost objects {[p['obj_id'] for p in prompts]}: restarted")
            masks.update(video.masks(video.prompt(prompts)))
            if fresh:  # a new object answers with the shape it was given, as CVAT's trackers do
                return {}
    return {obj_id: _box(mask) for obj_id, mask in masks.items()}


def _rectangle(shape) -> list:
    values = [float(v) for v in shape]
    if len(values) != 4:
        raise ValueError("this tracker follows rectangles: each shape is [x0, y0, x1, y1]")
    x0, y0, x1, y1 = values
    return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]


def _box(mask):
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _answer(context, status, body):
    if status >= 400:
        context.logger.warn(body.get("error"))
    return context.Response(body=json.dumps(body), headers={}, content_type="application/json", status_code=status)
