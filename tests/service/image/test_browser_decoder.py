"""The page's in-browser decoding, server side: GET /segment/decoder (+ the ONNX file) and /segment/features/{id}.

The served model run by onnxruntime on the served float16 features gives the masks /segment gives with refine off;
the features are the cached ones rounded to float16, gzip-encoded; the export runs once; errors are the service's.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from sam2refiner.service.core.masks import decode_mask
from sam2refiner.service.image import browser_decoder

pytestmark = pytest.mark.slow  # exports SAM 2's decoder (seconds, once per session)

H, W = 120, 160


def _unpack(body: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The features body as browser_decoder.py documents it: header, then float16 tensors in order."""
    (n,) = struct.unpack("<I", body[:4])
    header = json.loads(body[4 : 4 + n])
    assert (4 + n) % 8 == 0  # the tensors start aligned
    tensors, offset = {}, 4 + n
    for t in header["tensors"]:
        count = int(np.prod(t["shape"]))
        tensors[t["name"]] = np.frombuffer(body, "<f2", count, offset).reshape(t["shape"])
        offset += 2 * count
    assert offset == len(body)
    return header, tensors


@pytest.fixture(scope="module")
def served_decoder(api):
    info = api.get("/segment/decoder")
    assert info.status_code == 200, info.text
    model = api.get(info.json()["model"])
    assert model.status_code == 200
    assert "immutable" in model.headers["cache-control"]
    return info.json(), ort.InferenceSession(model.content, providers=["CPUExecutionProvider"])


def _features(api, image_id):
    r = api.get(f"/segment/features/{image_id}")
    assert r.status_code == 200, r.text
    assert r.headers["content-encoding"] == "gzip"  # httpx decoded it, as a browser does
    return _unpack(r.content)


def test_features_are_the_cached_ones_in_float16(api, image_id):
    header, tensors = _features(api, image_id)
    assert (header["image_id"], header["height"], header["width"], header["dtype"]) == (image_id, H, W, "float16")
    cached = api.engine.encoder.cache.get(image_id)
    expected = [cached.image_embed, *cached.high_res]
    for (name, got), want in zip(tensors.items(), expected):
        assert got.shape == tuple(want.shape), name
        assert np.array_equal(got, want.float().numpy().astype(np.float16)), name


def test_features_go_out_compressed(api, image_id):
    r = api.get(f"/segment/features/{image_id}")
    raw = sum(int(np.prod(t["shape"])) * 2 for t in _unpack(r.content)[0]["tensors"])
    compressed = int(r.headers["content-length"])
    assert compressed < raw  # the bytes on the wire (httpx decoded them, as a browser does)


def _decode_like_the_page(session, info, header, tensors, points, labels, box, mask_input):
    """What the page's worker does: prompts to encoder-input pixels (box corners first, labels 2, 3), one run,
    the chosen logits resized to the image (bilinear, as SAM 2) and thresholded at 0."""
    size = info["image_size"]
    scale = np.array([size / header["width"], size / header["height"]], np.float32)
    coords = [np.asarray(p, np.float32) * scale for p in points]
    labs = list(labels)
    if box is not None:
        coords = [np.asarray(box[:2], np.float32) * scale, np.asarray(box[2:], np.float32) * scale, *coords]
        labs = [2, 3, *labs]
    feeds = {name: t.astype(np.float32) for name, t in tensors.items()}
    feeds["point_coords"] = np.stack(coords)[None].astype(np.float32)
    feeds["point_labels"] = np.asarray(labs, np.float32)[None]
    m = tensors["high_res_0"].shape[-1]
    feeds["mask_input"] = np.zeros((1, 1, m, m), np.float32) if mask_input is None else mask_input
    feeds["has_mask_input"] = np.array([0.0 if mask_input is None else 1.0], np.float32)
    multi_logits, multi_iou, single_logits, single_iou = session.run(None, feeds)
    multimask = len(points) == 1 and box is None and mask_input is None
    logits = multi_logits[0, multi_iou[0].argmax()] if multimask else single_logits[0, 0]
    up = F.interpolate(torch.from_numpy(logits)[None, None], (header["height"], header["width"]), mode="bilinear")
    return up[0, 0].numpy() > 0, np.clip(logits, -32, 32)[None, None]


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.mark.parametrize(
    "clicks",
    [
        {"points": [[80, 60]], "labels": [1]},
        {"points": [[80, 60], [20, 20], [140, 100]], "labels": [1, 0, 1]},
        {"box": [40, 30, 120, 90]},
        {"box": [40, 30, 120, 90], "points": [[60, 50]], "labels": [0]},
    ],
    ids=["one-click", "three-clicks", "box", "box+click"],
)
def test_the_served_model_on_served_features_gives_the_servers_refine_off_masks(api, image_id, served_decoder, clicks):
    """Click by click, each with the previous mask's logits as the mask prompt (the page's sequence)."""
    info, session = served_decoder
    header, tensors = _features(api, image_id)
    points, labels, box = clicks.get("points", []), clicks.get("labels", []), clicks.get("box")
    steps = [(points[: k + 1], labels[: k + 1]) for k in range(len(points))] or [([], [])]
    logits_id = local_logits = None
    for step_points, step_labels in steps:
        obj = {"box": box} if box else {}
        if step_points:
            obj.update(points=step_points, labels=step_labels)
        if logits_id:
            obj["mask_logits_id"] = logits_id
        multimask = len(step_points) == 1 and box is None and logits_id is None
        r = api.post("/segment", json={"image_id": image_id, "objects": [obj], "refine": False, "multimask": multimask})
        assert r.status_code == 200, r.text
        candidates = r.json()["objects"][0]["masks"]
        best = max(candidates, key=lambda c: c["score"])
        server = decode_mask(best["mask"], "rle", H, W)
        logits_id = best["logits_id"]
        local, local_logits = _decode_like_the_page(
            session, info, header, tensors, step_points, step_labels, box, local_logits
        )
        assert _iou(local, server) >= 0.99, (clicks, len(step_points))


def test_the_export_runs_once(api, served_decoder, monkeypatch):
    def no_export(*_args):
        raise AssertionError("exported twice")

    monkeypatch.setattr(browser_decoder, "cached_decoder_onnx", no_export)
    assert api.get("/segment/decoder").json() == served_decoder[0]


def test_unknown_image_and_model_names_are_404(api, served_decoder):
    r = api.get("/segment/features/not-an-image")
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["field"]) == (404, "unknown_id", "image_id")
    r = api.get("/segment/decoder/sam2-decoder-0000.onnx")
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["field"]) == (404, "unknown_id", "name")


@pytest.fixture
def swapped_decoder(api, service_settings):
    """Replaces the app's BrowserDecoder for one test; yields a function that makes the replacement."""
    original = api.app.state.browser_decoder

    def swap(**settings):
        decoder = browser_decoder.BrowserDecoder(api.runtime, service_settings.model_copy(update=settings))
        api.app.state.browser_decoder = decoder
        return decoder

    yield swap
    api.app.state.browser_decoder = original


def test_a_service_without_browser_decoding_says_so(api, swapped_decoder):
    swapped_decoder(browser_decoder=False)
    r = api.get("/segment/decoder")
    assert (r.status_code, r.json()["error"]["code"]) == (503, "decoder_unavailable")


def test_a_failed_export_is_503_each_time_and_tried_once(api, swapped_decoder, monkeypatch, tmp_path):
    calls = []

    def broken_export(*_args):
        calls.append(1)
        raise RuntimeError("onnx exporter failed")

    monkeypatch.setattr(browser_decoder, "cached_decoder_onnx", broken_export)
    swapped_decoder(decoder_cache_dir=tmp_path)
    for _ in range(2):
        r = api.get("/segment/decoder")
        assert (r.status_code, r.json()["error"]["code"]) == (503, "decoder_unavailable")
        assert "decode on the server" in r.json()["error"]["message"]
    assert len(calls) == 1
