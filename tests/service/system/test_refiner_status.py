"""The refiner runs only when it is trained (or random weights are asked for explicitly): without a refiner
checkpoint the service is SAM 2 alone, ``refine`` defaults to off, and asking for it answers 409
``refiner_not_loaded`` over HTTP and WebSocket, naming the setting to set."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sam2refiner.model.weights.refiner_checkpoint import save_refiner_checkpoint
from sam2refiner.service.app import create_app
from sam2refiner.service.core.runtime import Runtime
from sam2refiner.service.core.settings import Settings
from sam2refiner.service.system.model_info import describe
from tests.service.conftest import png_b64
from tests.waiting import wait_until

BOX = {"box": [40, 30, 120, 90]}


@pytest.fixture(scope="module")
def sam2_alone(sam2_checkpoint):
    """hiera_t at 256 with a SAM 2 checkpoint and no refiner settings at all."""
    settings = Settings(
        sam2_config="hiera_t",
        image_size=256,
        device="cpu",
        sam2_checkpoint=sam2_checkpoint,
        warmup=False,
        max_image_pixels=1_000_000,
    )
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the service to be ready")
        yield client


def test_model_info_says_no_refiner_and_refine_defaults_off(sam2_alone):
    info = sam2_alone.get("/v1/model").json()
    assert info["refiner"] == "none" and info["refine_default"] is False
    assert info["modules"] == {"la": False, "pr": False, "mr": False}
    assert info["weights"]["random_weights"] is False and info["weights"]["warning"] is None
    assert info["weights"]["refiner_sha256"] is None
    assert info["max_image_pixels"] == 1_000_000  # the page refuses larger images when they open


def test_refine_true_without_a_refiner_is_409_naming_the_setting(sam2_alone, rgb_image):
    image = png_b64(rgb_image)
    r = sam2_alone.post("/segment", json={"image": image, "objects": [BOX], "refine": True})
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "refiner_not_loaded" and error["field"] == "refine"
    assert "SAM2REFINER_REFINER_CHECKPOINT" in error["message"]
    # Left out, refine is off: the same masks as refine=false, i.e. SAM 2's.
    default = sam2_alone.post("/segment", json={"image": image, "objects": [BOX], "format": "png"})
    off = sam2_alone.post("/segment", json={"image": image, "objects": [BOX], "format": "png", "refine": False})
    assert default.status_code == off.status_code == 200
    assert [m["mask"] for m in default.json()["objects"][0]["masks"]] == [
        m["mask"] for m in off.json()["objects"][0]["masks"]
    ]


def test_websocket_start_with_refine_true_gets_refiner_not_loaded(sam2_alone):
    with sam2_alone.websocket_connect("/video/no-refiner") as ws:
        ws.send_json({"type": "start", "refine": True})
        reply = ws.receive_json()
        assert reply["type"] == "error"
        error = reply.get("error", reply)  # the error body, nested or flat as the WS shape has it
        assert error["code"] == "refiner_not_loaded" and "SAM2REFINER_REFINER_CHECKPOINT" in error["message"]
        ws.send_json({"type": "start"})  # the socket stays usable; unset refine is off here
        started = ws.receive_json()
        assert started["type"] == "started" and started["refine"] is False


def test_random_refiner_only_by_explicit_setting(api):
    info = api.get("/v1/model").json()  # the shared test app sets random_refiner=True
    assert info["refiner"] == "random" and info["refine_default"] is True
    assert "refiner" in info["weights"]["warning"] and "RANDOM WEIGHTS" in info["weights"]["warning"]


def test_trained_refiner_checkpoint_is_reported_with_its_sha256(refiner_model, sam2_checkpoint, tmp_path):
    sha = save_refiner_checkpoint(refiner_model, tmp_path / "refiner.safetensors")
    runtime = Runtime.load(
        Settings(
            sam2_config="hiera_t",
            image_size=256,
            device="cpu",
            warmup=False,
            sam2_checkpoint=sam2_checkpoint,
            refiner_checkpoint=tmp_path / "refiner.safetensors",
        )
    )
    try:
        info = describe(runtime)
        assert info["refiner"] == "trained" and info["refine_default"] is True
        assert info["weights"]["refiner_sha256"] == sha and info["weights"]["random_weights"] is False
    finally:
        runtime.close()
