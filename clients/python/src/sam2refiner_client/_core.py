"""What the sync and async HTTP clients share, without any I/O (as httpx shares one core between its two clients).

Each operation is a *plan*: a generator that yields the HTTP calls to make (``Call``), is sent each call's answer
(``Reply``) and returns the operation's result. ``http.py`` runs plans with httpx's ``Client`` or ``AsyncClient``;
request bodies, the resend-on-eviction rule and the parsing of answers live here only.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from .errors import error_from_body
from .masks import decode_mask, encode_rle
from .results import ObjectMasks, SegmentResult

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: dict | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    content: bytes | None  # None for a streamed answer that succeeded: the runner reads its lines (``stream_part``)

    def json(self):
        return json.loads(self.content)


Plan = Generator[Call, Reply, T]


def encode_image(image) -> str:
    """A path, raw bytes, a PIL image or an RGB uint8 numpy array -> base64 (files as they are, arrays as PNG)."""
    if isinstance(image, (str, Path)):
        return base64.b64encode(Path(image).read_bytes()).decode("ascii")
    if isinstance(image, (bytes, bytearray)):
        return base64.b64encode(bytes(image)).decode("ascii")
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def make_object(points=None, labels=None, box=None, mask_rle=None, mask_logits_id=None) -> dict:
    """One object's prompts as the API takes them; ``mask_rle`` may be an RLE dict or a bool [H, W] mask, and
    points without labels are foreground clicks."""
    if mask_rle is not None and not isinstance(mask_rle, dict):
        mask_rle = encode_rle(mask_rle)
    obj = {"points": points, "labels": labels, "box": box, "mask": mask_rle, "mask_logits_id": mask_logits_id}
    obj = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.items() if v is not None}
    if "points" in obj and "labels" not in obj:
        obj["labels"] = [1] * len(obj["points"])
    return obj


def prompt_objects(objects, **single) -> list[dict]:
    """``objects`` (dicts with ``make_object``'s keywords) or else the one object of the keyword prompts."""
    return [make_object(**o) for o in objects] if objects is not None else [make_object(**single)]


def segment_result(body: dict) -> SegmentResult:
    """A ``/segment`` answer (or one part of a streamed one), its masks decoded from the answer's format."""
    h, w, fmt = body["height"], body["width"], body["format"]
    objects = [
        ObjectMasks(
            np.stack([decode_mask(m["mask"], fmt, h, w) for m in obj["masks"]]),
            np.array([m["score"] for m in obj["masks"]]),
            [m["logits_id"] for m in obj["masks"]],
        )
        for obj in body["objects"]
    ]
    return SegmentResult(
        body["image_id"], h, w, objects, body["timings_ms"], body, body.get("stage", "refined"), body.get("final", True)
    )


def raise_for(reply: Reply) -> None:
    if reply.status < 400:
        return
    try:
        body = reply.json()
    except ValueError:
        body = (reply.content or b"").decode("utf-8", "replace")
    raise error_from_body(body, reply.status)


class ClientCore:
    """One client's state (its headers, the image it works on) and its operations as plans."""

    def __init__(self, api_key: str | None):
        # X-Affinity keeps this client's requests on one replica behind a front (docker/nginx.conf, the Ingress),
        # where its image's features and logits are cached.
        self.headers = {"X-Affinity": secrets.token_hex(8)}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._image_b64: str | None = None
        self.image_id: str | None = None

    def set_image(self, image) -> None:
        self._image_b64, self.image_id = encode_image(image), None

    def segment(self, objects: list[dict], multimask: bool, refine, fmt: str, stream: bool) -> Plan[SegmentResult]:
        """Sends the image once, then its ``image_id``; if the server has dropped the image (404 ``unknown_id``
        on ``image_id``: evicted, or another replica) sends it again, once. A streamed plan returns None when the
        answer's lines are ready to read (``stream_part``)."""
        body = self._segment_body(objects, multimask, refine, fmt, stream, resend=False)
        reply = yield Call("POST", "/segment", body)
        if self._image_was_dropped(reply, body):
            reply = yield Call("POST", "/segment", self._segment_body(objects, multimask, refine, fmt, stream, True))
        raise_for(reply)
        if stream:
            return None
        result = segment_result(reply.json())
        self.image_id = result.image_id
        return result

    def stream_part(self, line: str) -> SegmentResult | None:
        """One NDJSON line of a streamed answer (None for a blank line); an error line raises."""
        if not line.strip():
            return None
        body = json.loads(line)
        if "error" in body:  # the stream had started (200) when the error happened: no HTTP status of its own
            raise error_from_body(body)
        part = segment_result(body)
        self.image_id = part.image_id
        return part

    def model_info(self) -> Plan[dict]:
        reply = yield Call("GET", "/v1/model")
        raise_for(reply)
        return reply.json()

    def _segment_body(self, objects, multimask, refine, fmt, stream, resend: bool) -> dict:
        if self._image_b64 is None and self.image_id is None:
            raise ValueError("no image: call set_image(...) first")
        body = {"objects": objects, "multimask": multimask, "format": fmt}
        if refine is not None:  # unset: the server's default (on when it has a refiner)
            body["refine"] = refine
        if stream:
            body["stream"] = True
        if self.image_id is not None and not resend:
            body["image_id"] = self.image_id
        else:
            body["image"] = self._image_b64
        return body

    def _image_was_dropped(self, reply: Reply, body: dict) -> bool:
        if reply.status != 404 or "image_id" not in body or self._image_b64 is None:
            return False
        try:
            return reply.json()["error"]["field"] == "image_id"
        except (ValueError, KeyError, TypeError):
            return False
