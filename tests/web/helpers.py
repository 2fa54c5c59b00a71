"""What the browser tests share: their services' settings, reading canvases back, clicking in image pixels,
replaying the page's requests."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def service_settings(**settings: str) -> dict[str, str]:
    """What every browser test's service runs (hiera_t on the CPU, the refiner on random weights, quiet), plus
    ``settings`` (names without the prefix, as ``running_service`` takes them)."""
    return {"sam2_config": "hiera_t", "device": "cpu", "log_level": "warning", "random_refiner": "true", **settings}


READ_CANVAS = """(selector) => {
  const c = document.querySelector(selector);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
  return [c.width, c.height, btoa(s)];
}"""


def canvas_rgba(page, selector: str) -> np.ndarray:
    w, h, data = page.evaluate(READ_CANVAS, selector)
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(h, w, 4)


def page_xy(page, selector: str, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of the centre of image pixel (x, y) on a CSS-scaled canvas."""
    box = page.locator(selector).bounding_box()
    w, h = page.evaluate(
        "(s) => { const d = document.querySelector(s).dataset; return [+d.imageWidth, +d.imageHeight]; }", selector
    )
    return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h


def click(page, selector: str, x: float, y: float, button: str = "left") -> None:
    px, py = page_xy(page, selector, x, y)
    page.mouse.click(px, py, button=button)


def drag(page, selector: str, x0: float, y0: float, x1: float, y1: float) -> None:
    page.mouse.move(*page_xy(page, selector, x0, y0))
    page.mouse.down()
    page.mouse.move(*page_xy(page, selector, (x0 + x1) / 2, (y0 + y1) / 2), steps=4)
    page.mouse.move(*page_xy(page, selector, x1, y1), steps=4)
    page.mouse.up()


def decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def best_mask(answer: dict, obj: int = 0) -> np.ndarray:
    masks = answer["objects"][obj]["masks"]
    return decode(max(masks, key=lambda m: m["score"])["mask"])


def replay_segment(api_url: str, body: dict) -> dict:
    """The page's /segment request sent again straight to the API (not streamed: the last part of a stream
    equals the plain answer)."""
    body = {k: v for k, v in body.items() if k != "stream"}
    r = httpx.post(f"{api_url}/segment", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def final_part(response) -> dict:
    """The answer the page got: a JSON body, or the last line of an NDJSON stream."""
    text = response.text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return lines[-1]


def save_screenshot(page, name: str, tmp_path: Path) -> Path:
    """Into tmp_path; also into docs/screenshots when SAM2REFINER_UPDATE_SCREENSHOTS=1 (README's pictures)."""
    path = tmp_path / name
    page.screenshot(path=str(path))
    if os.environ.get("SAM2REFINER_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / name)
    return path
