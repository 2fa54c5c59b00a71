"""Video file sessions in one process: uploads of several containers and codecs (and bad ones), frames served as
the model reads them, prompts on any frame, propagation as NDJSON, a cancel mid-stream, edits and deletion."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import zipfile

import av
import numpy as np
import pytest
from PIL import Image

from sam2refiner.service.app import create_app
from sam2refiner.service.core.masks import decode_rle, encode_rle
from tests.model.video.helpers import click_on, clip
from tests.service.conftest import AppClient
from tests.service.video.video_helpers import keys_of, video_settings
from tests.waiting import eventually, wait_until

from .media import corrupt, encode


def _upload(api, data: bytes, name: str = "clip.mp4"):
    return api.post("/videos", files={"file": (name, data, "application/octet-stream")})


def _lines(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def _delete(api, url: str):
    return api.portal.call(lambda: api.http.delete(url))


@pytest.mark.parametrize(
    "fmt, codec, shape",
    [("mp4", "libx264", (240, 320)), ("webm", "libvpx-vp9", (240, 320)), ("mp4", "libx264", (320, 176))],
    ids=["mp4-h264", "webm-vp9", "portrait"],
)
def test_upload_decodes_every_frame_at_the_source_size(files_api, fmt, codec, shape):
    frames, _ = clip(num_frames=6, hw=shape)
    r = _upload(files_api, encode(frames, fmt, codec), f"clip.{fmt}")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["frames"], body["height"], body["width"]) == (6, *shape)
    assert body["timestamps"] == pytest.approx([k / 24 for k in range(6)], abs=1e-3)
    assert body["fps"] == pytest.approx(24, rel=1e-3) and body["objects"] == []
    frame = files_api.get(f"/videos/{body['video_id']}/frames/5")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
    assert "immutable" in frame.headers["cache-control"]
    pixels = np.asarray(Image.open(io.BytesIO(frame.content)))
    assert pixels.shape == (*shape, 3)
    assert np.abs(pixels.astype(int) - frames[5]).mean() < 12  # the source frame (lossy codecs)


def test_variable_frame_rate_keeps_each_frames_timestamp(files_api):
    times = [0.0, 0.04, 0.2, 0.25, 0.6, 0.61]
    frames, _ = clip(num_frames=len(times))
    body = _upload(files_api, encode(frames, times=times)).json()
    assert body["frames"] == len(times)
    assert body["timestamps"] == pytest.approx(times, abs=2e-3)
    assert body["fps"] == pytest.approx((len(times) - 1) / times[-1], rel=1e-2)


def test_bad_files_are_refused_clearly(files_api, small_clip):
    _, _, mp4 = small_clip
    r = _upload(files_api, corrupt(mp4))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unreadable_video", r.text
    r = _upload(files_api, b"not a video at all" * 10)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unreadable_video"
    long_clip, _ = clip(num_frames=31)  # the app allows 30 frames
    r = _upload(files_api, encode(long_clip))
    assert r.status_code == 422 and r.json()["error"]["code"] == "video_over_limits", r.text
    assert "30 frames" in r.json()["error"]["message"]
    r = _upload(files_api, b"\0" * 2_100_000)  # over video_file_max_bytes
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large", r.text


def test_prompt_on_any_frame_then_propagate_both_ways(files_api, small_clip):
    frames, masks, mp4 = small_clip
    video_id = _upload(files_api, mp4).json()["video_id"]
    r = files_api.post(
        f"/videos/{video_id}/prompts",
        json={"frame": 3, "object_id": 7, "points": click_on(masks[3, 0]), "labels": [1]},
    )
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["frame"] == 3 and [o["object_id"] for o in reply["objects"]] == [7]
    assert decode_rle(reply["objects"][0]["rle"]).shape == (240, 320)
    lines = _lines(files_api.post(f"/videos/{video_id}/propagate", json={"direction": "both"}))
    # forward 3..7, then backward 3..0: frame 3 (the prompted one) is streamed by each pass, as sam2 does
    assert [line["frame"] for line in lines[:-1]] == [3, 4, 5, 6, 7, 3, 2, 1, 0]
    assert [line["done"] for line in lines[:-1]] == list(range(1, 10)) and lines[0]["total"] == 9
    assert lines[-1] == {"finished": True, "frames": 9}
    assert lines[0]["objects"] == reply["objects"]  # the prompted frame's mask is the prompt's answer
    stored = files_api.get(f"/videos/{video_id}/masks/6").json()
    assert stored["objects"] == lines[3]["objects"] and stored["time"] == pytest.approx(6 / 24, abs=1e-3)
    info = files_api.get(f"/videos/{video_id}").json()
    assert info["objects"] == [7] and info["propagating"] is False and info["stored_bytes"] > len(mp4)


def test_prompts_that_cannot_apply_are_refused(files_api, small_clip):
    _, masks, mp4 = small_clip
    video_id = _upload(files_api, mp4).json()["video_id"]
    url = f"/videos/{video_id}/prompts"
    for body, field in [
        ({"frame": 8, "object_id": 1, "points": [[5, 5]], "labels": [1]}, "frame"),
        ({"frame": 0, "object_id": 1, "points": [[500, 5]], "labels": [1]}, "points"),
        ({"frame": 0, "object_id": 1, "points": [[5, 5]]}, "labels"),
        ({"frame": 0, "object_id": 1, "box": [10, 10, 5, 20]}, "box"),
        ({"frame": 0, "object_id": 1, "points": [[5, 5]], "labels": [1], "refine": True}, "refine"),
    ]:
        r = files_api.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"].startswith(field), (body, r.json())
    r = files_api.post(f"/videos/{video_id}/propagate", json={})
    assert r.status_code == 422 and r.json()["error"]["field"] == "objects"
    assert files_api.get(f"/videos/{'0' * 32}").status_code == 404
    assert files_api.get("/videos/not-an-id").status_code == 404


@pytest.mark.parametrize(
    "prompt",
    [
        {"points": [[500, 5]], "labels": [1]},  # outside the frame
        {"points": [[5, 5], [6, 6]], "labels": [1]},  # a label short
        {"points": [[5, 5]] * 65, "labels": [1] * 65},  # one over max_points
        {"box": [10, 10, 5, 20]},  # reversed
        {"box": [330, 10, 400, 20]},  # misses the frame
    ],
    ids=["point-outside", "labels-short", "too-many-points", "box-reversed", "box-misses"],
)
def test_prompts_are_refused_as_segment_refuses_them(files_api, small_clip, prompt):
    """The same object's prompt on a frame and on that frame as a /segment image: the same 422, field for field
    (the file route's fields are at the top of its body, /segment's under objects.0)."""
    _, _, mp4 = small_clip
    video_id = _upload(files_api, mp4).json()["video_id"]
    r = files_api.post(f"/videos/{video_id}/prompts", json={"frame": 0, "object_id": 1, **prompt})
    assert r.status_code == 422, r.text
    jpeg = files_api.get(f"/videos/{video_id}/frames/0").content
    segment = files_api.post("/segment", json={"image": base64.b64encode(jpeg).decode(), "objects": [prompt]})
    assert segment.status_code == 422, segment.text
    expected = segment.json()["error"]
    assert expected["field"].startswith("objects.0."), expected
    assert r.json()["error"] == {**expected, "field": expected["field"].removeprefix("objects.0.")}


def test_mask_prompt_remove_reset_delete(files_api, small_clip):
    _, masks, mp4 = small_clip
    video_id = _upload(files_api, mp4).json()["video_id"]
    r = files_api.post(
        f"/videos/{video_id}/prompts", json={"frame": 1, "object_id": 2, "mask": encode_rle(masks[1, 1])}
    )
    assert r.status_code == 200, r.text
    got, want = decode_rle(r.json()["objects"][0]["rle"]), masks[1, 1]
    assert (got & want).sum() / (got | want).sum() > 0.9  # sam2 takes the mask as the object's (at its low res)
    r = files_api.post(f"/videos/{video_id}/prompts", json={"frame": 1, "object_id": 3, "box": [10, 10, 100, 90]})
    assert [o["object_id"] for o in r.json()["objects"]] == [2, 3]
    assert _delete(files_api, f"/videos/{video_id}/objects/2").status_code == 204
    assert files_api.get(f"/videos/{video_id}").json()["objects"] == [3]
    assert _delete(files_api, f"/videos/{video_id}/objects/2").status_code == 422
    assert files_api.post(f"/videos/{video_id}/reset").status_code == 204
    assert files_api.get(f"/videos/{video_id}").json()["objects"] == []
    assert _delete(files_api, f"/videos/{video_id}").status_code == 204
    assert files_api.get(f"/videos/{video_id}").status_code == 404
    assert _delete(files_api, f"/videos/{video_id}").status_code == 404


def test_cancel_mid_stream_leaves_the_session_usable(files_api, small_clip):
    _, masks, mp4 = small_clip
    video_id = _upload(files_api, mp4).json()["video_id"]
    files_api.post(
        f"/videos/{video_id}/prompts", json={"frame": 0, "object_id": 1, "points": click_on(masks[0, 0]), "labels": [1]}
    )

    async def propagate_and_cancel():
        async def cancel_once_running():
            flags = files_api.app.state.file_sessions.flags
            await eventually(lambda: flags.running(video_id), 300, "the propagation to start")
            assert (await files_api.http.post(f"/videos/{video_id}/cancel")).status_code == 204

        canceller = asyncio.create_task(cancel_once_running())
        response = await files_api.http.post(f"/videos/{video_id}/propagate", json={})
        await canceller
        return response

    lines = _lines(files_api.portal.call(propagate_and_cancel))
    last = lines[-1]
    assert last.get("cancelled") is True and last["done"] == len(lines) - 1 < 8, lines
    assert files_api.get(f"/videos/{video_id}").json()["propagating"] is False
    # usable: a propagation from the next frame finishes the video
    rest = _lines(files_api.post(f"/videos/{video_id}/propagate", json={"start_frame": last["done"]}))
    assert rest[-1]["finished"] and [line["frame"] for line in rest[:-1]] == list(range(last["done"], 8))


def test_exports_use_the_source_frames_timestamps_and_size(files_api, small_clip):
    frames, masks, mp4 = small_clip
    video_id = _upload(files_api, mp4).json()["video_id"]
    files_api.post(
        f"/videos/{video_id}/prompts", json={"frame": 2, "object_id": 4, "points": click_on(masks[2, 0]), "labels": [1]}
    )
    lines = _lines(files_api.post(f"/videos/{video_id}/propagate", json={"end_frame": 5}))[:-1]
    by_frame = {line["frame"]: line for line in lines}

    r = files_api.get(f"/videos/{video_id}/export", params={"format": "coco"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    coco = r.json()
    assert coco["videos"][0] == {"id": 1, "name": video_id, "width": 320, "height": 240, "length": 8, "fps": 24.0}
    assert [i["frame_id"] for i in coco["images"]] == list(range(8))
    assert coco["images"][5]["timestamp"] == pytest.approx(5 / 24, abs=1e-3)
    annotated = {a["frame_id"]: a for a in coco["annotations"]}
    assert set(annotated) == {t for t, line in by_frame.items() if decode_rle(line["objects"][0]["rle"]).any()}
    for t, a in annotated.items():
        assert a["track_id"] == 4 and a["image_id"] == t + 1
        assert np.array_equal(decode_rle(a["segmentation"]), decode_rle(by_frame[t]["objects"][0]["rle"]))
        assert a["area"] == decode_rle(a["segmentation"]).sum()

    r = files_api.get(f"/videos/{video_id}/export", params={"format": "png-zip"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        index = json.loads(z.read("frames.json"))
        assert index["objects"] == {"4": sorted(annotated)} and (index["width"], index["height"]) == (320, 240)
        for t in annotated:
            png = np.asarray(Image.open(io.BytesIO(z.read(f"4/{t:06d}.png"))))
            assert np.array_equal(png > 0, decode_rle(by_frame[t]["objects"][0]["rle"]))

    r = files_api.get(f"/videos/{video_id}/export", params={"format": "mp4"})
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(r.content)) as container:
        decoded = list(container.decode(video=0))
    assert len(decoded) == 8 and (decoded[0].width, decoded[0].height) == (320, 240)
    assert [round(f.time, 3) for f in decoded] == pytest.approx([k / 24 for k in range(8)], abs=2e-3)
    drawn, plain = decoded[2].to_ndarray(format="rgb24"), frames[2]
    inside = decode_rle(by_frame[2]["objects"][0]["rle"])
    assert np.abs(drawn[inside].astype(int) - plain[inside]).mean() > 20  # the mask is drawn over the object
    assert np.abs(drawn[~inside].astype(int) - plain[~inside]).mean() < 12  # the rest is the video
    assert files_api.get(f"/videos/{video_id}/export", params={"format": "gif"}).status_code == 422


def test_stored_bytes_cap_stops_a_propagation_and_keeps_what_was_stored(files_api, small_clip):
    """Over the per-session cap nothing of the step is saved: the frames streamed before stay, exact."""
    _, masks, mp4 = small_clip
    sessions = files_api.app.state.file_sessions
    video_id = _upload(files_api, mp4).json()["video_id"]
    files_api.post(
        f"/videos/{video_id}/prompts", json={"frame": 0, "object_id": 1, "points": click_on(masks[0, 0]), "labels": [1]}
    )
    stored = files_api.get(f"/videos/{video_id}").json()["stored_bytes"]
    per_frame = 64 * 16 * 16 * 2 + 64 * 64 * 4 + 256 * 4 + 4  # memory (bf16), low-res logits, pointer, score at 256
    settings = sessions.settings
    sessions.settings = settings.model_copy(update={"video_file_session_bytes": stored + 3 * per_frame})
    try:
        before = _metric(files_api)
        lines = _lines(files_api.post(f"/videos/{video_id}/propagate", json={}))
    finally:
        sessions.settings = settings
    assert [line["frame"] for line in lines[:-1]] == [0, 1, 2, 3]  # frame 0 is stored already
    assert lines[-1]["error"]["code"] == "session_full" and "cap" in lines[-1]["error"]["message"]
    assert _metric(files_api) - before == 4
    assert files_api.get(f"/videos/{video_id}/masks/3").json()["objects"] == lines[3]["objects"]
    assert not decode_rle(files_api.get(f"/videos/{video_id}/masks/4").json()["objects"][0]["rle"]).any()


def _metric(api) -> float:
    text = api.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("sam2refiner_video_file_frames_propagated_total "))
    return float(line.split()[-1])


@pytest.mark.slow  # a model built
def test_a_session_expires_after_its_ttl_and_leaves_nothing_in_redis(video_checkpoint, redis_url, redis_prefix):
    """Stored in Redis (as with several workers) under SAM2REFINER_VIDEO_TTL_S: once unused for that long, every
    key of the session is gone and it answers 404."""
    settings = video_settings(video_checkpoint, redis_prefix, redis_url=redis_url, video_ttl_s=3, random_refiner=False)
    api = AppClient(create_app(settings))
    try:
        frames, _ = clip(num_frames=3, hw=(64, 96))
        video_id = _upload(api, encode(frames)).json()["video_id"]
        assert keys_of(redis_url, redis_prefix) == [f"{redis_prefix}:files:video:{video_id}:state".encode()]
        wait_until(lambda: keys_of(redis_url, redis_prefix) == [], 60, "the session's keys to expire")
        assert api.get(f"/videos/{video_id}").status_code == 404
    finally:
        api.close()
