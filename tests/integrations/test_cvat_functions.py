"""The CVAT functions (deploy/cvat/*/main.py) called as nuclio calls them (nuclio-sdk's test platform), with the
payloads CVAT's lambda manager sends, against a running service: the interactor's mask equals ``POST /segment``'s,
the tracker's boxes equal the video WebSocket's, and its states carry the service's session."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.integrations.conftest import API_KEY
from tests.integrations.direct import DirectSegment, png_bytes, websocket_boxes
from tests.integrations.media import frame_pixels

FUNCTIONS = Path(__file__).resolve().parents[2] / "deploy" / "cvat"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"cvat_{name}_main", FUNCTIONS / name / "main.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # nuclio's test platform finds init_context through the handler's module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def call(service, monkeypatch):
    monkeypatch.setenv("SAM2REFINER_URL", service[0])
    monkeypatch.setenv("SAM2REFINER_API_KEY", API_KEY)
    import nuclio_sdk  # a dev dependency (pyproject); imported here so collecting needs none of it
    from nuclio_sdk.test import Platform

    platform = Platform()

    def run(module, body: dict):
        response = platform.call_handler(module.handler, nuclio_sdk.Event(body=json.dumps(body).encode()))
        return response.status_code, json.loads(response.body)

    return run


def b64(pixels: np.ndarray) -> str:
    return base64.b64encode(png_bytes(pixels)).decode()


def test_interactor_mask_equals_segment(call, service, scene):
    interactor = load("interactor")
    status, body = call(interactor, {"image": b64(scene), "pos_points": [[60, 60]], "neg_points": [], "obj_bbox": None})
    assert status == 200
    mask = np.asarray(body["mask"], np.uint8) == 255
    assert np.array_equal(mask, DirectSegment(service[0], scene).segment(points=[[60.0, 60.0]], labels=[1]))

    payload = {
        "image": b64(scene),
        "pos_points": [[60, 60]],
        "neg_points": [[120, 24]],
        "obj_bbox": [[20, 30], [100, 90]],
    }
    status, body = call(interactor, payload)
    expected = DirectSegment(service[0], scene).segment(
        points=[[60.0, 60.0], [120.0, 24.0]], labels=[1, 0], box=[20.0, 30.0, 100.0, 90.0]
    )
    assert status == 200 and np.array_equal(np.asarray(body["mask"], np.uint8) == 255, expected)

    status, body = call(interactor, {"pos_points": [[1, 1]]})  # no image
    assert status == 400 and "image" in body["error"]


def test_tracker_follows_like_the_websocket(call, service):
    tracker = load("tracker")
    frames = [frame_pixels(i) for i in range(4)]
    box = [16.0, 28.0, 58.0, 70.0]
    status, body = call(tracker, {"image": b64(frames[0]), "shapes": [box], "states": []})
    assert status == 200 and body["shapes"] == [box]
    (state,) = body["states"]
    assert state["session"].startswith("cvat-") and state["obj_id"] == 1
    reference = websocket_boxes(service[0], frames, box, "cvat-reference")
    for i in range(1, len(frames)):
        status, body = call(tracker, {"image": b64(frames[i]), "shapes": body["shapes"], "states": body["states"]})
        assert status == 200 and body["states"] == [state]
        assert body["shapes"] == [list(reference[i])]

    status, body = call(tracker, {"image": b64(frames[0]), "shapes": [[1, 2, 3]], "states": []})
    assert status == 400 and "rectangles" in body["error"]


def test_function_definitions_name_their_handlers_and_settings():
    for name, kind in (("interactor", "interactor"), ("tracker", "tracker")):
        spec = yaml.safe_load((FUNCTIONS / name / "function.yaml").read_text())
        assert spec["metadata"]["annotations"]["type"] == kind
        assert spec["spec"]["handler"] == "main:handler"
        env = {e["name"] for e in spec["spec"]["env"]}
        source = (FUNCTIONS / name / "main.py").read_text()
        assert env == {"SAM2REFINER_URL", "SAM2REFINER_API_KEY", "SAM2REFINER_REFINE"}
        assert all(f'"{variable}"' in source for variable in env)
