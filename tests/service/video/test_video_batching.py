"""Sessions on one device worker (issue 20, item 2): frames of different sessions waiting at the same moment share
one encoder call, each session gets its own frame's features, and a frame is two stream-lane device jobs."""

from __future__ import annotations

import functools
import threading
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from sam2refiner.model.video import TrackPrompt
from sam2refiner.service.app import create_app
from sam2refiner.service.core.masks import decode_rle
from sam2refiner.service.core.worker import STREAM
from tests.waiting import wait_until

from .video_helpers import assert_mask_matches, video_settings

SESSIONS = 3


@pytest.mark.slow
def test_frames_of_sessions_waiting_together_share_one_encoder_call(video_checkpoint, video_clip):
    frames, pngs, click = video_clip
    app = create_app(video_settings(video_checkpoint, "unused", redis_url="", video_encoder_batch=SESSIONS))
    with TestClient(app) as client:
        sessions, worker = app.state.video_sessions, app.state.runtime.worker
        tracker = sessions.tracker
        calls = []
        original = tracker.encode_frames

        def encode_spy(batch, switches=None):
            calls.append(len(batch))
            return original(batch, switches)

        tracker.encode_frames = encode_spy
        started, release = threading.Event(), threading.Event()

        def hold():  # holds the worker's stream thread until the frames of every session are queued
            started.set()
            release.wait(60)

        with ExitStack() as stack:
            sockets = [stack.enter_context(client.websocket_connect(f"/video/s{i}")) for i in range(SESSIONS)]
            stack.callback(release.set)  # never leave the worker held
            for ws in sockets:
                ws.send_json({"type": "start", "refine": False})
                ws.receive_json()
            held = client.portal.start_task_soon(functools.partial(worker.submit, hold, lane=STREAM))
            assert started.wait(60)
            for i, ws in enumerate(sockets):
                ws.send_bytes(pngs[i])  # each session its own first frame
            wait_until(lambda: worker.depth == SESSIONS, what=f"the sessions' frames to be queued ({worker.depth})")
            release.set()
            held.result(60)
            replies = [ws.receive_json() for ws in sockets]
            assert [r["frame_idx"] for r in replies] == [0] * SESSIONS
            assert calls == [SESSIONS]  # one encoder call for the three frames
            # Each session tracks on its own frame's features: a click on the batch-encoded frame equals a click
            # on the frame encoded alone.
            prompt = {"type": "prompt", "frame_idx": 0, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]}
            sockets[1].send_json(prompt)
            got = sockets[1].receive_json()["objects"][0]["mask"]
        tracker.encode_frames = original
        state = tracker.new_state(refine=False)
        feats = tracker.encode_frame(frames[1], state.switches)
        state, _ = tracker.step(state, feats)
        _, alone = tracker.prompt(state, feats, [TrackPrompt(1, points=click, labels=[1])])
        assert_mask_matches(got, alone.objects[0].logits, "the click on session 1's frame")
        assert decode_rle(got).any()
