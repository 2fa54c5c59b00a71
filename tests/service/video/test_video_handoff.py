"""Handoff between workers: two uvicorn processes share one Redis; a session started on the first continues on
the second after the first is stopped mid-session, and its masks equal sam2's uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from ..processes import free_port, launch, service_env, stop, wait_ready
from .video_helpers import REDIS_URL, assert_mask_matches, keys_of
from service.video_client import VideoSession, VideoSessionError

def _launch(port: int, checkpoint: str, prefix: str, log_path: Path):
    env = service_env(
        sam2_config="hiera_t", image_size="256", device="cpu", sam2_checkpoint=checkpoint, warmup="false",
        redis_url=REDIS_URL, video_key_prefix=prefix, log_level="warning", random_refiner="true",
    )
    args = ["-m", "uvicorn", "service.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
    return launch(args, env, log_path)


@pytest.fixture
def two_workers(video_checkpoint, video_prefix, tmp_path):
    ports = [free_port(), free_port()]
    procs = [_launch(p, video_checkpoint, video_prefix, tmp_path / f"worker{i}.log") for i, p in enumerate(ports)]
    try:
        for proc, port, i in zip(procs, ports, range(2)):
            wait_ready(proc, f"http://127.0.0.1:{port}", tmp_path / f"worker{i}.log")
        yield list(zip(procs, ports))
    finally:
        for proc in procs:
            stop(proc)


def _ask(ws, payload) -> dict:
    ws.send(payload if isinstance(payload, bytes) else json.dumps(payload))
    return json.loads(ws.recv(timeout=120))


def test_session_continues_on_another_worker(two_workers, video_clip, reference_masks, video_prefix):
    (first, port_a), (_, port_b) = two_workers
    _, pngs, click = video_clip
    handoff = 10
    with connect(f"ws://127.0.0.1:{port_a}/video/handoff", max_size=None) as ws:
        assert _ask(ws, {"type": "start", "refine": False})["type"] == "started"
        _ask(ws, pngs[0])
        reply = _ask(ws, {"type": "prompt", "frame_idx": 0, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        assert_mask_matches(reply["objects"][0]["mask"], reference_masks[0], "frame 0 on worker A")
        for t in range(1, handoff):
            reply = _ask(ws, pngs[t])
            assert_mask_matches(reply["objects"][0]["mask"], reference_masks[t], f"frame {t} on worker A")
    first.terminate()  # worker A goes away mid-session
    first.wait(30)
    with VideoSession(f"ws://127.0.0.1:{port_b}", "handoff", refine=False) as video:  # the Python client
        assert video.started["frame_idx"] == handoff - 1 and video.started["objects"] == [1]
        for t in range(handoff, len(pngs)):
            reply = video.frame(pngs[t])
            assert reply["frame_idx"] == t
            assert_mask_matches(reply["objects"][0]["mask"], reference_masks[t], f"frame {t} on worker B")
        http = httpx.get(f"http://127.0.0.1:{port_b}/video/handoff").json()
        assert http["frames_processed"] == len(pngs)
        with pytest.raises(VideoSessionError) as bad:
            video.prompt([{"obj_id": 2, "points": click, "labels": [1]}], frame_idx=3)
        assert bad.value.field == "frame_idx"
        # A prompt on the current frame, on a worker that must re-encode it from the stored frame.
        reply = video.prompt([{"obj_id": 2, "points": click, "labels": [1]}])
        assert reply["frame_idx"] == len(pngs) - 1 and list(video.masks(reply)) == [2]
        assert video.close()["type"] == "closed"
    assert [k for k in keys_of(video_prefix) if b":handoff:" in k] == []
