"""/segment through the real ASGI app: prompts of every kind, every output format, cache behaviour."""

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pycocotools import mask as mask_utils

from sam2refiner.model.image_predictor import SAM2RefinerImagePredictor
from sam2refiner.service.core.masks import decode_mask, encode_rle
from tests.waiting import wait_until

H, W = 120, 160


def _masks(body: dict) -> list[np.ndarray]:
    """Every object's masks decoded: list of bool [M, H, W]."""
    return [
        np.stack([decode_mask(m["mask"], body["format"], body["height"], body["width"]) for m in o["masks"]])
        for o in body["objects"]
    ]


def _segment(api, **body):
    r = api.post("/segment", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _counter(api, name: str, **labels) -> float:
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


PROMPTS = {
    "box": {"box": [40, 30, 120, 90]},
    "clicks": {"points": [[80, 60], [10, 10]], "labels": [1, 0]},
    "box_and_click": {"box": [40, 30, 120, 90], "points": [[80, 60]], "labels": [1]},
}


@pytest.mark.parametrize("fmt", ["rle", "png", "polygons"])
@pytest.mark.parametrize("prompt", sorted(PROMPTS))
def test_prompts_give_masks_of_the_image_size_in_every_format(api, image_id, prompt, fmt):
    body = _segment(api, image_id=image_id, objects=[PROMPTS[prompt]], format=fmt)
    assert (body["height"], body["width"], body["image_id"]) == (H, W, image_id)
    (masks,) = _masks(body)
    assert masks.shape == (1, H, W)
    obj = body["objects"][0]["masks"][0]
    assert isinstance(obj["score"], float) and obj["logits_id"].startswith("lg_")


def test_rle_decodes_with_pycocotools_to_the_png_mask(api, image_id):
    objects = [PROMPTS["box"], PROMPTS["clicks"]]
    rle_body = _segment(api, image_id=image_id, objects=objects, format="rle", multimask=True)
    png_body = _segment(api, image_id=image_id, objects=objects, format="png", multimask=True)
    for rle_obj, png_mask in zip(rle_body["objects"], _masks(png_body)):
        assert len(rle_obj["masks"]) == 3
        for m, expected in zip(rle_obj["masks"], png_mask):
            rle = m["mask"]
            decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
            assert decoded.shape == (H, W) and np.array_equal(decoded.astype(bool), expected)


def test_multi_object_request_matches_one_object_at_a_time(api, image_id):
    objects = [PROMPTS["box"], PROMPTS["clicks"], {"points": [[20, 100]], "labels": [1]}]
    together = _masks(_segment(api, image_id=image_id, objects=objects))
    for obj, masks in zip(objects, together):
        (alone,) = _masks(_segment(api, image_id=image_id, objects=[obj]))
        assert np.array_equal(alone, masks)


@pytest.mark.slow  # encodes new images
def test_mask_prompts_from_rle_and_from_logits_id(api, image_id, rgb_image):
    first = _segment(api, image_id=image_id, objects=[PROMPTS["clicks"]])
    logits_id = first["objects"][0]["masks"][0]["logits_id"]
    (previous,) = _masks(first)
    click = {"points": [[80, 60]], "labels": [1]}
    by_logits = _segment(api, image_id=image_id, objects=[{**click, "mask_logits_id": logits_id}])
    # The logits id stands for exactly the low-res logits the predictor returns: same masks as passing them.
    predictor = SAM2RefinerImagePredictor(api.runtime.model)
    predictor.set_image(rgb_image)
    _, _, low_res = predictor.predict(
        point_coords=PROMPTS["clicks"]["points"], point_labels=PROMPTS["clicks"]["labels"], multimask_output=False
    )
    expected, _, _ = predictor.predict(
        point_coords=click["points"], point_labels=click["labels"], mask_input=low_res[None], multimask_output=False
    )
    assert np.array_equal(_masks(by_logits)[0], expected.astype(bool))

    rle = encode_rle(previous[0] | np.pad(np.ones((10, 10), bool), ((0, H - 10), (0, W - 10))))
    by_rle = _segment(api, image_id=image_id, objects=[{**click, "mask": rle}, {"mask": rle}])
    assert [m.shape for m in _masks(by_rle)] == [(1, H, W), (1, H, W)]


def test_refine_false_is_exactly_the_predictors_refiner_off_masks(api, image_b64, rgb_image):
    objects = [PROMPTS["box"], PROMPTS["clicks"]]
    body = _segment(api, image=image_b64, objects=objects, refine=False, multimask=True, format="png")
    predictor = SAM2RefinerImagePredictor(api.runtime.model)
    predictor.set_image(rgb_image)
    for obj, served in zip(objects, _masks(body)):
        masks, scores, _ = predictor.predict(
            point_coords=obj.get("points"),
            point_labels=obj.get("labels"),
            box=obj.get("box"),
            multimask_output=True,
            refine=False,
        )
        assert np.array_equal(served, masks.astype(bool))
    served_scores = [m["score"] for m in body["objects"][1]["masks"]]
    np.testing.assert_allclose(served_scores, scores, rtol=0, atol=1e-6)


def test_refine_true_differs_from_refine_false(api, image_id):
    on = _masks(_segment(api, image_id=image_id, objects=[PROMPTS["box"]], refine=True))[0]
    off = _masks(_segment(api, image_id=image_id, objects=[PROMPTS["box"]], refine=False))[0]
    assert not np.array_equal(on, off)  # random refiner weights: the modules change the mask


@pytest.mark.slow  # encodes new images
def test_second_click_skips_the_encoder(api, rgb_image):
    fresh = rgb_image.copy()
    fresh[0, 0] = [1, 2, 3]  # an image the cache has never seen
    from tests.service.conftest import png_b64

    hits = _counter(api, "sam2refiner_cache_hits_total", cache="features")
    first = _segment(api, image=png_b64(fresh), objects=[PROMPTS["box"]])
    assert first["timings_ms"]["cache_hit"] is False and first["timings_ms"]["encode"] > 0
    second = _segment(api, image_id=first["image_id"], objects=[PROMPTS["clicks"]])
    t = second["timings_ms"]
    assert t["cache_hit"] is True and t["encode"] == 0 and t["decoder"] > 0
    assert t["total"] < first["timings_ms"]["total"]
    assert _counter(api, "sam2refiner_cache_hits_total", cache="features") == hits + 1
    # Sending the same pixels again (not the id) also hits the cache, and gets the same id back.
    again = _segment(api, image=png_b64(fresh), objects=[PROMPTS["box"]])
    assert again["image_id"] == first["image_id"] and again["timings_ms"]["cache_hit"] is True


@pytest.mark.slow  # encodes new images
def test_jpeg_and_webp_images_are_accepted(api, rgb_image):
    from tests.service.conftest import png_b64

    for fmt in ("JPEG", "WEBP"):
        body = _segment(api, image=png_b64(rgb_image, fmt), objects=[PROMPTS["box"]])
        assert (body["height"], body["width"]) == (H, W)


def test_model_info_says_random_weights_loudly(api):
    info = api.get("/v1/model").json()
    assert info["config"] == "hiera_t" and info["image_size"] == 256 and info["device"] == "cpu"
    assert info["dtype"] == "float32" and info["modules"] == {"la": True, "pr": True, "mr": True}
    assert info["weights"]["random_weights"] is True and "RANDOM WEIGHTS" in info["weights"]["warning"]
    assert api.get("/healthz").json() == {"status": "ok"} and api.get("/readyz").status_code == 200


def test_concurrent_clicks_on_one_image_share_a_decoder_pass(api, image_id):
    """Two clicks queued behind a busy worker run as one batch, with the masks each would get alone."""
    import threading

    bodies = [
        {"image_id": image_id, "objects": [PROMPTS["box"]]},
        {"image_id": image_id, "objects": [PROMPTS["clicks"], {"points": [[20, 100]], "labels": [1]}]},
    ]
    alone = [_masks(_segment(api, **b)) for b in bodies]
    release, running, worker = threading.Event(), threading.Event(), api.runtime.worker
    blocker = api.portal.start_task_soon(worker.submit, lambda: running.set() or release.wait(30))
    try:
        assert running.wait(30)  # the blocker is on the worker, off the queue
        pending = []
        for b in bodies:
            pending.append(api.portal.start_task_soon(lambda b=b: api.http.post("/segment", json=b)))
            # keep the queue order: each request is queued before the next is sent
            wait_until(lambda: worker.depth == len(pending), what=f"request {len(pending)} to be queued")
    finally:
        release.set()
    blocker.result(timeout=30)
    for future, expected in zip(pending, alone):
        body = future.result(timeout=120).json()
        assert body["timings_ms"]["batch_size"] == 2
        for got, want in zip(_masks(body), expected):
            assert np.array_equal(got, want)


@pytest.mark.slow  # encodes new images
def test_one_new_image_sent_by_two_concurrent_requests_is_encoded_once(api, rgb_image, monkeypatch):
    import threading

    from tests.service.conftest import png_b64

    engine = api.engine
    calls, sources = [], []
    encode, source = engine.predictor.start_encoding, engine.feature_source
    monkeypatch.setattr(engine.predictor, "start_encoding", lambda image: calls.append(1) or encode(image))

    def counted_source(*args, **kwargs):  # a request has joined the image's encoding once this has returned
        found = source(*args, **kwargs)
        sources.append(found)
        return found

    monkeypatch.setattr(engine, "feature_source", counted_source)
    fresh = rgb_image.copy()
    fresh[5, 5] = [9, 9, 9]
    body = {"image": png_b64(fresh), "objects": [PROMPTS["box"]]}
    release, running = threading.Event(), threading.Event()
    blocker = api.portal.start_task_soon(api.runtime.worker.submit, lambda: running.set() or release.wait(30))
    try:
        assert running.wait(30)  # the blocker is on the worker, off the queue
        first = api.portal.start_task_soon(lambda: api.http.post("/segment", json=body))
        second = api.portal.start_task_soon(lambda: api.http.post("/segment", json=body))
        # both requests in: one encode job queued, the other request waiting on that encoding
        wait_until(lambda: len(sources) == 2 and api.runtime.worker.depth >= 1, what="both requests to be in")
        assert api.runtime.worker.depth == 1 and not second.done() and sources[0] is sources[1]
    finally:
        release.set()
    blocker.result(timeout=30)
    a, b = first.result(timeout=120).json(), second.result(timeout=120).json()
    assert len(calls) == 1 and a["image_id"] == b["image_id"]
    assert a["timings_ms"]["cache_hit"] is False and b["timings_ms"]["cache_hit"] is False
    assert np.array_equal(_masks(a)[0], _masks(b)[0])
