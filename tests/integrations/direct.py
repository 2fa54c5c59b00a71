"""The service called directly, as the reference the integrations must equal: ``POST /segment`` with the same
prompts, the video WebSocket with the same frames and box."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from sam2refiner_client import VideoSession, decode_mask
from tests.integrations.conftest import API_KEY


def png_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


class DirectSegment:
    """Clicks on one image by ``POST /segment``, with the rule the Label Studio backend follows: a lone click asks
    for three masks and keeps the best; a later click on the object passes the previous answer's logits."""

    def __init__(self, url: str, pixels: np.ndarray):
        self.url, self.image = url, base64.b64encode(png_bytes(pixels)).decode()
        self.logits_id: str | None = None

    def segment(self, points=None, labels=None, box=None, correct: bool = False) -> np.ndarray:
        obj = {k: v for k, v in (("points", points), ("labels", labels), ("box", box)) if v is not None}
        if correct:
            obj["mask_logits_id"] = self.logits_id
        multimask = box is None and not correct and points is not None and len(points) == 1
        answer = httpx.post(
            f"{self.url}/segment",
            json={"image": self.image, "objects": [obj], "multimask": multimask},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=300,
        )
        assert answer.status_code == 200, answer.text
        masks = answer.json()["objects"][0]["masks"]
        best = max(masks, key=lambda m: m["score"])
        self.logits_id = best["logits_id"]
        return decode_mask(best["mask"], "rle")


def websocket_boxes(url: str, frames: list[np.ndarray], box: list[float], session: str) -> dict[int, tuple | None]:
    """Frame 0 prompted with ``box``, then tracked: each frame's mask box (x0, y0, x1, y1; None when empty)."""
    out = {}
    ws = "ws" + url[len("http") :]
    with VideoSession(ws, session, api_key=API_KEY) as video:
        for i, frame in enumerate(frames):
            reply = video.frame(png_bytes(frame))
            if i == 0:
                reply = video.prompt([{"obj_id": 1, "box": box}])
            mask = video.masks(reply).get(1)
            out[i] = None if mask is None else mask_box(mask)
        video.close()
    return out


def mask_box(mask: np.ndarray) -> tuple | None:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def percent_box(box: tuple, hw: tuple[int, int]) -> dict:
    h, w = hw
    x0, y0, x1, y1 = box
    return {"x": 100.0 * x0 / w, "y": 100.0 * y0 / h, "width": 100.0 * (x1 - x0) / w, "height": 100.0 * (y1 - y0) / h}


def read_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))
