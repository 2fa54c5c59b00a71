"""Every bad input is a 4xx whose JSON names the field at fault, and leaves the caches as they were."""

import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

from sam2refiner.service.core.masks import encode_rle
from tests.service.conftest import png_b64
from tests.waiting import wait_until

BOX = {"box": [40, 30, 120, 90]}


def _png_bytes(pixels) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _bomb() -> str:
    """A 1200 x 1000 all-black PNG: a few kB on the wire, over the test's 1,000,000 pixel limit."""
    return base64.b64encode(_png_bytes(np.zeros((1000, 1200, 3), np.uint8))).decode()


def _bad_requests(image_b64: str, image_id: str) -> dict:
    """name -> (JSON body or raw bytes, expected status, expected field)."""
    rgb = np.zeros((20, 20, 3), np.uint8)
    truncated = base64.b64encode(
        _png_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))[:300]
    ).decode()
    gif = io.BytesIO()
    Image.fromarray(rgb).save(gif, format="GIF")
    click = {"points": [[10, 10]], "labels": [1]}
    wrong_rle = encode_rle(np.ones((50, 50), bool))
    return {
        "malformed_json": (b'{"image_id": "x", "objects": [', 422, "body"),
        "objects_not_a_list": ({"image_id": image_id, "objects": "box"}, 422, "objects"),
        "box_wrong_type": ({"image_id": image_id, "objects": [{"box": ["a", 1, 2, 3]}]}, 422, "objects.0.box.0"),
        "box_wrong_length": ({"image_id": image_id, "objects": [{"box": [1, 2, 3]}]}, 422, "objects.0.box.3"),
        "multimask_not_bool": ({"image_id": image_id, "objects": [BOX], "multimask": "maybe"}, 422, "multimask"),
        "unknown_field": ({"image_id": image_id, "objects": [{"bx": [1, 2, 3, 4]}]}, 422, "objects.0.bx"),
        "unknown_format": ({"image_id": image_id, "objects": [BOX], "format": "bmp"}, 422, "format"),
        "nan_coordinate": (
            b'{"image_id": "%s", "objects": [{"box": [NaN, 1, 2, 3]}]}' % image_id.encode(),
            422,
            "objects.0.box.0",
        ),
        "no_image": ({"objects": [BOX]}, 422, "image"),
        "image_and_image_id": ({"image": image_b64, "image_id": image_id, "objects": [BOX]}, 422, "image"),
        "no_objects": ({"image_id": image_id, "objects": []}, 422, "objects"),
        "object_without_prompt": ({"image_id": image_id, "objects": [{}]}, 422, "objects.0.points"),
        "not_base64": ({"image": "not base64 at all!", "objects": [BOX]}, 422, "image"),
        "undecodable_image": ({"image": base64.b64encode(b"\x00" * 100).decode(), "objects": [BOX]}, 422, "image"),
        "truncated_image": ({"image": truncated, "objects": [BOX]}, 422, "image"),
        "gif_image": ({"image": base64.b64encode(gif.getvalue()).decode(), "objects": [BOX]}, 422, "image"),
        "decompression_bomb": ({"image": _bomb(), "objects": [BOX]}, 413, "image"),
        "too_many_objects": ({"image_id": image_id, "objects": [BOX] * 5}, 422, "objects"),
        "too_many_points": (
            {"image_id": image_id, "objects": [{"points": [[1, 1]] * 9, "labels": [1] * 9}]},
            422,
            "objects.0.points",
        ),
        "point_outside_image": (
            {"image_id": image_id, "objects": [BOX, {"points": [[161, 5]], "labels": [1]}]},
            422,
            "objects.1.points",
        ),
        "negative_point": (
            {"image": image_b64, "objects": [{"points": [[-1, 5]], "labels": [1]}]},
            422,
            "objects.0.points",
        ),
        "label_not_allowed": (
            {"image_id": image_id, "objects": [{"points": [[1, 1]], "labels": [2]}]},
            422,
            "objects.0.labels.0",
        ),
        "labels_without_points": ({"image_id": image_id, "objects": [{"labels": [1]}]}, 422, "objects.0.points"),
        "labels_count_mismatch": (
            {"image_id": image_id, "objects": [{"points": [[1, 1], [2, 2]], "labels": [1]}]},
            422,
            "objects.0.labels",
        ),
        "box_x1_before_x0": ({"image_id": image_id, "objects": [{"box": [100, 10, 50, 60]}]}, 422, "objects.0.box"),
        # A box past the edge is SAM 2's to take (test_box_past_the_edge.py); one that misses the image is not.
        "box_missing_image": ({"image_id": image_id, "objects": [{"box": [161, 0, 500, 60]}]}, 422, "objects.0.box"),
        "rle_wrong_size": (
            {"image_id": image_id, "objects": [{**click, "mask": wrong_rle}]},
            422,
            "objects.0.mask.size",
        ),
        "rle_bad_counts": (
            {"image_id": image_id, "objects": [{"mask": {"size": [120, 160], "counts": [3, 4]}}]},
            422,
            "objects.0.mask.counts",
        ),
        # A compressed RLE whose runs cover 100 of the 120x160 pixels (pycocotools leaves the rest uninitialised).
        "rle_short_compressed": (
            {
                "image_id": image_id,
                "objects": [{"mask": {"size": [120, 160], "counts": encode_rle(np.ones((10, 10), bool))["counts"]}}],
            },
            422,
            "objects.0.mask.counts",
        ),
        "rle_outside_alphabet": (
            {"image_id": image_id, "objects": [{"mask": {"size": [120, 160], "counts": "zz"}}]},
            422,
            "objects.0.mask.counts",
        ),
        "mask_and_logits_id": (
            {"image_id": image_id, "objects": [{"mask": wrong_rle, "mask_logits_id": "lg_x"}]},
            422,
            "objects.0.mask",
        ),
        "unknown_image_id": ({"image_id": "img_" + "0" * 32, "objects": [BOX]}, 404, "image_id"),
        "unknown_logits_id": (
            {"image_id": image_id, "objects": [{**click, "mask_logits_id": "lg_forged"}]},
            404,
            "objects.0.mask_logits_id",
        ),
        "oversized_body": ({"image": "A" * (3 << 20), "objects": [BOX]}, 413, "body"),
    }


def _cache_state(engine):
    return engine.encoder.cache.keys(), engine.encoder.cache.nbytes, engine.logits.keys(), engine.logits.nbytes


CASES = sorted(_bad_requests("", "img_0").keys())


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_4xx_naming_the_field(api, image_b64, image_id, case):
    body, status, field = _bad_requests(image_b64, image_id)[case]
    before = _cache_state(api.engine)
    if isinstance(body, bytes):
        r = api.post("/segment", content=body, headers={"content-type": "application/json"})
    else:
        r = api.post("/segment", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field, error
    assert error["message"]
    assert _cache_state(api.engine) == before  # a failing request changes no cache


def test_streamed_body_over_the_limit_is_413(api):
    async def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for _ in range(5):
            yield b" " * (1 << 20)

    r = api.post("/segment", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"


def test_logits_of_another_image_are_refused(api, image_id, rgb_image):
    other = rgb_image[::-1].copy()
    r = api.post("/segment", json={"image": png_b64(other), "objects": [BOX]})
    foreign = r.json()["objects"][0]["masks"][0]["logits_id"]
    r = api.post("/segment", json={"image_id": image_id, "objects": [{**BOX, "mask_logits_id": foreign}]})
    assert r.status_code == 404 and r.json()["error"]["field"] == "objects.0.mask_logits_id"


def test_api_key_guards_everything_but_health_and_metrics(api, image_id, service_settings):
    from pydantic import SecretStr

    service_settings.api_key = SecretStr("s3cret")
    try:
        body = {"image_id": image_id, "objects": [BOX]}
        assert api.post("/segment", json=body).status_code == 401
        r = api.post("/segment", json=body, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"]["field"] == "authorization"
        assert r.headers["www-authenticate"] == "Bearer"
        assert api.get("/v1/model").status_code == 401
        assert api.post("/segment", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        for open_route in ("/healthz", "/readyz", "/metrics"):
            assert api.get(open_route).status_code == 200
    finally:
        service_settings.api_key = None


def test_full_queue_answers_503_with_retry_after(api, image_id):
    """The device worker is held busy and its queue (2 in the tests) filled: the next request is refused."""
    release, running = threading.Event(), threading.Event()
    worker = api.runtime.worker

    def hold():
        running.set()
        release.wait(30)

    # The first blocker must be running (off the queue) before the two that fill the queue are sent.
    blockers = [api.portal.start_task_soon(worker.submit, hold)]
    try:
        assert running.wait(30)
        blockers += [api.portal.start_task_soon(worker.submit, lambda: release.wait(30)) for _ in range(2)]
        wait_until(lambda: worker.depth == 2, what="the two blockers to fill the queue")
        r = api.post("/segment", json={"image_id": image_id, "objects": [BOX]})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "queue_full"
    finally:
        release.set()
        for b in blockers:
            b.result(timeout=30)
    assert api.post("/segment", json={"image_id": image_id, "objects": [BOX]}).status_code == 200


def test_not_ready_answers_503_with_retry_after(api, image_b64):
    api.runtime.ready = False
    try:
        assert api.get("/readyz").status_code == 503
        assert api.get("/healthz").status_code == 200
        r = api.post("/segment", json={"image": image_b64, "objects": [BOX]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready" and "retry-after" in r.headers
    finally:
        api.runtime.ready = True
