"""Acceptance (issue 19 item 2): over HTTP, with two workers sharing a real Redis (prompts on A, propagation on
B), a file session's masks are sam2's SAM2VideoPredictor's (``init_state`` on the frames, refiner off) for: one
object prompted on frame 0 and propagated forward; a second object added on frame 5; a correction on frame 12 then
propagation from 12; a prompt on frame 20 propagated backward to 0. Then a worker killed mid-propagation (paused
at a known frame with the session's lease held): another worker continues from the last saved frame and the
masks equal the uninterrupted run.

The reference reads the frames the way sam2 reads a video: ``init_state`` on a folder of the JPEGs the service
decoded (the test decodes the file with the service's decoder and checks that worker B serves the same bytes)."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import redis

from sam2refiner.model.sam2_compat.hooks import promote_memory_dtype
from sam2refiner.service.video_files.decode import VideoLimits, decode_video
from tests.model.video.helpers import click_on, clip, reference_predictor
from tests.service.processes import CLUSTER_LEASE_S, CLUSTER_PREFIX, running_cluster, signal_when_paused
from tests.service.video.video_helpers import assert_mask_matches
from tests.tiers import tier
from tests.waiting import wait_until

from .media import encode

FRAMES = 24
# sam2's predictor and the service over 24 frames, four times (about a minute on an idle 2-core machine; the
# timeout leaves room for a loaded one)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def video():
    frames, masks = clip(num_frames=FRAMES)
    return encode(frames), masks


@pytest.fixture(scope="module")
@tier("service", "redis")
def workers(video_checkpoint, tmp_path_factory):
    with running_cluster(video_checkpoint, tmp_path_factory.mktemp("files"), "a", "b", "c") as c:  # c: killed
        yield c


def _prompts(masks):
    """The four cases' prompts: (frame, object, points, labels)."""
    return {
        "first": (0, 1, click_on(masks[0, 0]), [1]),
        "second_object": (5, 2, click_on(masks[5, 1]), [1]),
        "correction": (12, 1, click_on(masks[12, 0]) + click_on(masks[12, 1]), [1, 0]),
        "backward": (20, 3, click_on(masks[20, 1]), [1]),
    }


@pytest.fixture(scope="module")
def reference(video, video_checkpoint, tmp_path_factory):
    """sam2's predictor through the four cases: {case: (prompt reply [K, H, W], {frame: logits [K, H, W]})}."""
    mp4, masks = video
    decoded = decode_video(mp4, VideoLimits(1000, 1000, 4096))
    folder = tmp_path_factory.mktemp("jpegs")
    for k, jpeg in enumerate(decoded.jpegs):
        (folder / f"{k:05d}.jpg").write_bytes(jpeg)
    predictor = reference_predictor(video_checkpoint)
    promote_memory_dtype(predictor.memory_attention)  # sam2 itself raises on a CPU without it (case 2)
    state = predictor.init_state(str(folder))
    runs = {}
    propagation = {"first": {}, "second_object": {}, "correction": {"start_frame_idx": 12}}
    propagation["backward"] = {"start_frame_idx": 20, "reverse": True}
    for case, (frame, obj, points, labels) in _prompts(masks).items():
        _, _, reply = predictor.add_new_points_or_box(state, frame, obj, points=points, labels=labels)
        reply = reply[:, 0].clone()
        frames = {t: m[:, 0].clone() for t, _, m in predictor.propagate_in_video(state, **propagation[case])}
        runs[case] = (reply, frames)
    return decoded.jpegs, runs


UPLOADED: list[str] = []


def _upload(url: str, mp4: bytes) -> str:
    video_id = httpx.post(f"{url}/videos", files={"file": ("clip.mp4", mp4)}, timeout=120).json()["video_id"]
    UPLOADED.append(video_id)
    return video_id


def _stream(url: str, body: dict) -> list[dict]:
    with httpx.stream("POST", url, json=body, timeout=600) as r:
        assert r.status_code == 200, r.read()
        return [json.loads(line) for line in r.iter_lines() if line]


def _same(objects: list[dict], ref, what: str):
    assert len(objects) == ref.shape[0], what
    for i, o in enumerate(objects):
        assert_mask_matches(o["rle"], ref[i], f"{what}, object {o['object_id']}")


def test_masks_equal_sam2_video_predictor_across_two_workers(workers, video, reference):
    mp4, masks = video
    jpegs, runs = reference
    a, b = workers.http("a"), workers.http("b")
    video_id = _upload(a, mp4)
    assert httpx.get(f"{b}/videos/{video_id}/frames/17").content == jpegs[17]  # B decoded the stored file alike
    bodies = {"first": {}, "second_object": {}, "correction": {"start_frame": 12}}
    bodies["backward"] = {"start_frame": 20, "direction": "backward"}
    for case, (frame, obj, points, labels) in _prompts(masks).items():
        ref_reply, ref_frames = runs[case]
        body = {"frame": frame, "object_id": obj, "points": points, "labels": labels}
        reply = httpx.post(f"{a}/videos/{video_id}/prompts", json=body, timeout=120)
        assert reply.status_code == 200, reply.text
        _same(reply.json()["objects"], ref_reply, f"{case}: the prompt's reply on frame {frame}")
        lines = _stream(f"{b}/videos/{video_id}/propagate", bodies[case])
        assert lines[-1] == {"finished": True, "frames": len(ref_frames)}, lines[-1]
        assert [line["frame"] for line in lines[:-1]] == list(ref_frames)
        for line in lines[:-1]:
            _same(line["objects"], ref_frames[line["frame"]], f"{case}: frame {line['frame']}")
    stored = httpx.get(f"{a}/videos/{video_id}/masks/3").json()  # what A reads back from Redis
    _same(stored["objects"], runs["backward"][1][3], "frame 3 as stored")


def test_worker_killed_mid_propagation_and_another_continues(workers, video, reference):
    """kill -9 while C propagates frame 9 (paused there, its lease held, frames 0-8 stored): A continues from
    frame 9 once C's lease has run out, and every frame equals sam2's uninterrupted run."""
    mp4, masks = video
    _, runs = reference
    a, c = workers.http("a"), workers.http("c")
    video_id = _upload(a, mp4)
    frame, obj, points, labels = _prompts(masks)["first"]
    body = {"frame": frame, "object_id": obj, "points": points, "labels": labels}
    assert httpx.post(f"{a}/videos/{video_id}/prompts", json=body, timeout=120).status_code == 200
    proc = workers.proc("c")
    received = []
    with ThreadPoolExecutor(1) as pool:
        fault = pool.submit(signal_when_paused, workers.pause(video_id, 9), proc, signal.SIGKILL)
        with pytest.raises(httpx.HTTPError):  # the stream breaks with the worker
            with httpx.stream("POST", f"{c}/videos/{video_id}/propagate", json={}, timeout=600) as r:
                for line in r.iter_lines():
                    received.append(json.loads(line))
        assert fault.result()[0] == proc.pid  # the kill reached C mid-frame, where the test meant it to
    assert [line["frame"] for line in received] == list(range(9))
    expected = runs["first"][1]

    def resumed():
        lines = _stream(f"{a}/videos/{video_id}/propagate", {"start_frame": 9})
        return None if "error" in lines[-1] and lines[-1]["error"]["code"] == "session_busy" else lines

    lines = wait_until(resumed, CLUSTER_LEASE_S + 60, "C's lease to run out and A to continue")
    assert lines[-1] == {"finished": True, "frames": FRAMES - 9}, lines[-1]
    for line in received + lines[:-1]:
        _same(line["objects"], expected[line["frame"]], f"frame {line['frame']} across the kill")
    assert np.array_equal([line["frame"] for line in lines[:-1]], range(9, FRAMES))


def test_deleted_sessions_leave_nothing_in_redis(workers, video):
    """Every file session of this module deleted (on either worker): no key of any is left (state, lease, flags)."""
    assert UPLOADED
    for i, video_id in enumerate(UPLOADED):
        assert httpx.delete(f"{workers.http('ab'[i % 2])}/videos/{video_id}").status_code == 204
    with redis.Redis.from_url(workers.redis_url) as client:
        assert list(client.scan_iter(match=f"{CLUSTER_PREFIX}:files:*")) == []
