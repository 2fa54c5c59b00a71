"""Streamed /segment (NDJSON): SAM 2's masks first, the refined ones last; the device worker's job order while a
new image's quadrants are encoded; the Python clients' stream iterators."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from sam2refiner.model.image_predictor import StagedEncoding
from sam2refiner_client import AsyncSAM2RefinerClient
from tests.service.conftest import png_b64
from tests.service.image.test_segment import _masks
from tests.waiting import wait_until

pytestmark = pytest.mark.slow  # each test sends new images through the staged encoder

BOX = {"box": [40, 30, 120, 90]}


def _fresh(rgb_image, seed: int) -> np.ndarray:
    img = rgb_image.copy()
    img[0, :3] = [seed, seed + 1, seed + 2]  # pixels the cache has never seen
    return img


def _lines(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def _same_masks(a: dict, b: dict) -> bool:
    scores = lambda body: [[m["score"] for m in o["masks"]] for o in body["objects"]]  # noqa: E731
    return all(np.array_equal(x, y) for x, y in zip(_masks(a), _masks(b))) and np.allclose(scores(a), scores(b))


def test_stream_gives_sam2_masks_first_and_the_non_streamed_answer_last(api, rgb_image):
    image = png_b64(_fresh(rgb_image, 11))
    parts = _lines(api.post("/segment", json={"image": image, "objects": [BOX], "stream": True}))
    assert [(p["stage"], p["final"]) for p in parts] == [("sam2", False), ("refined", True)]
    assert parts[0]["timings_ms"]["cache_hit"] is False and parts[0]["image_id"] == parts[1]["image_id"]
    plain = api.post("/segment", json={"image_id": parts[0]["image_id"], "objects": [BOX]}).json()
    sam2 = api.post("/segment", json={"image_id": parts[0]["image_id"], "objects": [BOX], "refine": False}).json()
    assert _same_masks(parts[0], sam2) and _same_masks(parts[1], plain)
    assert not _same_masks(parts[0], parts[1])  # the refiner (random as it is) changes the masks
    # Refine off: a single part, stage "sam2", final.
    single = _lines(
        api.post("/segment", json={"image_id": parts[0]["image_id"], "objects": [BOX], "refine": False, "stream": True})
    )
    assert [(p["stage"], p["final"]) for p in single] == [("sam2", True)] and _same_masks(single[0], sam2)


def _record_jobs(engine, monkeypatch, on_first_quadrant):
    """Labels of the worker's jobs in the order it runs them; ``on_first_quadrant`` runs during the first
    quadrant pass (on the worker thread, which waits for it)."""
    jobs: list[str] = []
    start, step, decode = engine.predictor.start_encoding, StagedEncoding.step, engine._decode_batch

    def recording_step(staged):
        jobs.append("quadrant")
        if jobs.count("quadrant") == 1:
            on_first_quadrant()
        return step(staged)

    monkeypatch.setattr(engine.predictor, "start_encoding", lambda image: jobs.append("global") or start(image))
    monkeypatch.setattr(StagedEncoding, "step", recording_step)
    monkeypatch.setattr(
        engine,
        "_decode_batch",
        lambda payloads, multimask, refine: (
            jobs.append(f"decode {'refined' if refine else 'sam2'} x{len(payloads)}")
            or decode(payloads, multimask, refine)
        ),
    )
    return jobs


def _post_while_quadrants_encode(api, monkeypatch, first_body: dict, second_body: dict):
    """Posts ``first_body`` (a new image); once its first quadrant pass runs, posts ``second_body`` and lets the
    pass finish only when the second request's job is queued. Returns (job labels, first answer, second answer)."""
    engine = api.engine
    second = {}

    def send_second():
        second["task"] = api.portal.start_task_soon(lambda: api.http.post("/segment", json=second_body))
        # the worker thread waits here until the second request's job is in the queue
        wait_until(lambda: api.runtime.worker.depth >= 1, what="the second request's job to reach the queue")

    jobs = _record_jobs(engine, monkeypatch, send_second)
    first = api.post("/segment", json=first_body)
    return jobs, first, second["task"].result(timeout=300)


def test_click_on_a_cached_image_waits_behind_one_encoder_pass_at_most(api, image_id, rgb_image, monkeypatch):
    new = {"image": png_b64(_fresh(rgb_image, 21)), "objects": [BOX]}
    click = {"image_id": image_id, "objects": [{"points": [[80, 60]], "labels": [1]}]}
    jobs, first, second = _post_while_quadrants_encode(api, monkeypatch, new, click)
    assert first.status_code == 200 and second.status_code == 200
    # The click queued during the first quadrant pass runs right after it, before the other three.
    assert jobs == [
        "global",
        "quadrant",
        "decode refined x1",
        "quadrant",
        "quadrant",
        "quadrant",
        "decode refined x1",
    ], jobs


def test_click_on_an_image_still_encoding_gets_sam2_masks_at_once_then_refined(api, rgb_image, monkeypatch):
    from sam2refiner.service.core.images import image_id_for

    fresh = _fresh(rgb_image, 31)
    new = {"image": png_b64(fresh), "objects": [BOX], "stream": True}
    click = {"image_id": image_id_for(fresh), "objects": [{"points": [[80, 60]], "labels": [1]}], "stream": True}
    jobs, first, second = _post_while_quadrants_encode(api, monkeypatch, new, click)
    # The new image's own SAM 2 masks right after its global pass; the click (sent during the first quadrant
    # pass) gets SAM 2's masks right after that pass, and the refined masks once the last quadrant is done.
    assert jobs[:5] == ["global", "decode sam2 x1", "quadrant", "decode sam2 x1", "quadrant"], jobs
    assert jobs[5:7] == ["quadrant", "quadrant"] and jobs[7:] in (["decode refined x2"], ["decode refined x1"] * 2), (
        jobs
    )
    for response in (first, second):
        assert [(p["stage"], p["final"]) for p in _lines(response)] == [("sam2", False), ("refined", True)]


def test_async_client_streams_parts(api, rgb_image):
    async def run():
        transport = httpx.ASGITransport(app=api.app)
        async with AsyncSAM2RefinerClient("http://service", transport=transport) as client:
            client.set_image(_fresh(rgb_image, 61))
            return [part async for part in client.segment_stream(box=[40, 30, 120, 90])]

    parts = api.portal.call(run)
    assert [(p.stage, p.final) for p in parts] == [("sam2", False), ("refined", True)]
    assert parts[0].objects[0].masks.shape == (1, 120, 160) and parts[0].image_id == parts[1].image_id
