"""Faults with real processes: uvicorn workers sharing a redis-server of this module's own (on a free port, so it
can be frozen, killed and restarted), driven by the Python client or a raw socket. In order: a session deleted
and created again across the two workers (defect 1); Redis frozen mid-session (SIGSTOP/SIGCONT) and restarted
empty; a worker drained by SIGTERM during a streamed session; a worker killed (-9) mid-frame. Every session's
masks equal sam2's uninterrupted run. The module owns every process it starts and stops them by PID.

"Mid-frame" is a known point, not a moment: the workers run with SAM2REFINER_TEST_PAUSE_DIR set
(service/video/pause_point.py), a test arms one frame of one session, the worker that tracks it pauses there with
the session's lease held and says so with its PID, and the test signals that worker while it waits there."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.sync.client import connect

from sam2refiner_client import BadRequestError, VideoSession
from tests.tiers import tier
from tests.waiting import wait_until

from ..processes import CLUSTER_LEASE_S, Pause, frozen, running_cluster, signal_when_paused
from .video_helpers import assert_mask_matches


@pytest.fixture(scope="module")
@tier("service", "redis")
def cluster(video_checkpoint, tmp_path_factory):
    with running_cluster(video_checkpoint, tmp_path_factory.mktemp("faults"), "a", "b") as c:
        yield c


def _follow(video: VideoSession, pngs, reference, frames, what: str) -> None:
    for t in frames:
        reply = video.frame(pngs[t])
        assert reply["frame_idx"] == t, reply
        assert_mask_matches(reply["objects"][0]["mask"], reference[t], f"frame {t} {what}")


def _begin(video: VideoSession, pngs, click, reference) -> None:
    video.frame(pngs[0])
    reply = video.prompt([{"obj_id": 1, "points": click, "labels": [1]}])
    assert_mask_matches(reply["objects"][0]["mask"], reference[0], "frame 0 prompt")


def test_a_session_created_again_is_never_served_from_the_old_copy(cluster, video_clip, reference_masks):
    """Defect 1: the old session advanced on A, deleted and created again on B to the same version."""
    _, pngs, click = video_clip
    with VideoSession(cluster.ws("a"), "recreated", refine=False) as old:
        old.frame(pngs[0])
        old.prompt([{"obj_id": 7, "box": [0, 0, 60, 60]}])
        old.frame(pngs[1])
        old.frame(pngs[2])
    assert httpx.delete(f"{cluster.http('b')}/video/recreated").status_code == 204
    with VideoSession(cluster.ws("b"), "recreated", refine=False) as new:
        assert new.started["frame_idx"] == -1
        _begin(new, pngs, click, reference_masks)
        _follow(new, pngs, reference_masks, [1, 2], "of the new session on B")
        version = httpx.get(f"{cluster.http('b')}/video/recreated").json()["version"]
    with VideoSession(cluster.ws("a"), "recreated", refine=False) as again:  # A still holds the old copy, same version
        assert (again.started["frame_idx"], again.started["objects"]) == (2, [1])
        _follow(again, pngs, reference_masks, [3], "on A after the re-creation")
    info = httpx.get(f"{cluster.http('b')}/video/recreated").json()
    assert (info["version"], info["objects"], info["frames_processed"]) == (version + 1, [1], 4)


def _ask(ws, *messages) -> dict:
    for m in messages:
        ws.send(m if isinstance(m, bytes) else json.dumps(m))
    return json.loads(ws.recv(timeout=120))


def test_redis_frozen_then_restarted_empty(cluster, video_clip, reference_masks):
    """Defect 2 on a worker: the lease SET sent while Redis is frozen runs when it resumes; the same frame sent
    again right after is accepted (no session_busy for the lease time), and no lease is left. Then Redis comes
    back empty: the session is gone (unknown_id, no stale copy served), and a new one starts from nothing."""
    _, pngs, click = video_clip
    with connect(f"{cluster.ws('a')}/video/frozen", max_size=None) as ws:
        assert _ask(ws, {"type": "start", "refine": False})["type"] == "started"
        _ask(ws, {"type": "frame", "seq": 1}, pngs[0])
        _ask(ws, {"type": "prompt", "seq": 2, "objects": [{"obj_id": 1, "points": click, "labels": [1]}]})
        with frozen(cluster.redis):
            during_stall = _ask(ws, {"type": "frame", "seq": 3}, pngs[1])
        assert during_stall["type"] == "error" and during_stall["error"]["code"] == "state_store_unavailable", (
            during_stall
        )
        reply = _ask(ws, {"type": "frame", "seq": 3}, pngs[1])  # at once: not "session_busy"
        assert reply["type"] == "frame" and reply["frame_idx"] == 1, reply
        assert_mask_matches(reply["objects"][0]["mask"], reference_masks[1], "frame 1 after the stall")
        wait_until(lambda: cluster.leases() == [], 5, "the lease taken during the stall to be released")

        cluster.restart_redis_empty()
        for _ in range(3):  # the first call may still meet a connection to the old Redis
            gone = _ask(ws, {"type": "frame", "seq": 4}, pngs[2])
            if gone["error"]["code"] != "state_store_unavailable":
                break
        assert gone["type"] == "error" and gone["error"]["code"] == "unknown_id", gone  # no stale copy served
    with VideoSession(cluster.ws("a"), "frozen", refine=False, retry_s=10) as video:
        assert (video.started["frame_idx"], video.started["last_seq"]) == (-1, None)  # a new session
        _begin(video, pngs, click, reference_masks)
        _follow(video, pngs, reference_masks, [1], "of the session started after the restart")


def test_sigterm_drains_and_another_worker_continues(cluster, video_clip, reference_masks):
    """Issue 13's draining: SIGTERM while frame 3 is being tracked on A (paused there, its lease held). A answers
    /readyz 503 at once, finishes and saves that frame, refuses the next message with "draining"; the client
    reconnects to B, which accepts at once (A released its lease: no session_busy retry), and the masks equal an
    uninterrupted run."""
    _, pngs, click = video_clip
    a = cluster.proc("a")

    def not_ready():
        try:
            r = httpx.get(f"{cluster.http('a')}/readyz", timeout=2)
        except httpx.HTTPError:
            return None
        return (r.status_code, r.json()) if r.status_code != 200 else None

    def sigterm_mid_frame(pause: Pause):  # A's /readyz refuses while the frame still waits
        return signal_when_paused(pause, a, signal.SIGTERM, lambda: wait_until(not_ready, 30, "A's /readyz to refuse"))

    with VideoSession([cluster.ws("a"), cluster.ws("b")], "drained", refine=False) as video:
        _begin(video, pngs, click, reference_masks)
        _follow(video, pngs, reference_masks, [1, 2], "on A")
        with ThreadPoolExecutor(1) as pool:
            fault = pool.submit(sigterm_mid_frame, cluster.pause("drained", 3))
            _follow(video, pngs, reference_masks, [3, 4, 5], "across the drain")
            paused_pid, readiness = fault.result()
        assert paused_pid == a.pid  # the signal reached A mid-frame, where the test meant it to
        assert readiness == (503, {"status": "draining"}), readiness
        assert video.reconnects == 1 and video.retries == 0, (video.reconnects, video.retries)
        assert a.wait(30) in (0, -signal.SIGTERM)  # within the grace period
        assert "draining: 1 video message(s) were in flight; all answered" in cluster.log("a")
        cluster.launch("a2")  # for the next test, while this one finishes on B
        info = httpx.get(f"{cluster.http('b')}/video/drained").json()
        assert info["frames_processed"] == 6
        with pytest.raises(BadRequestError) as bad:
            video.prompt([{"obj_id": 2, "points": click, "labels": [1]}], frame_idx=3)
        assert bad.value.field == "frame_idx"
        assert list(video.masks(video.prompt([{"obj_id": 2, "points": click, "labels": [1]}]))) == [2]
        assert video.close()["type"] == "closed"
    assert cluster.leases() == [] and httpx.get(f"{cluster.http('b')}/video/drained").status_code == 404


def test_worker_killed_mid_frame_and_another_continues(cluster, video_clip, reference_masks):
    """kill -9 while frame 3 is being tracked on B (paused there, its lease held, nothing saved): the frame is
    lost with its reply; the client resumes on A2 once B's lease has run out, and the masks equal an
    uninterrupted run."""
    _, pngs, click = video_clip
    cluster.ready("a2")
    b = cluster.proc("b")

    with VideoSession(
        [cluster.ws("b"), cluster.ws("a2")], "killed", refine=False, retry_s=CLUSTER_LEASE_S + 30
    ) as video:
        _begin(video, pngs, click, reference_masks)
        _follow(video, pngs, reference_masks, [1, 2], "on B")
        with ThreadPoolExecutor(1) as pool:
            # released before A2 gets frame 3 again: B's lease keeps it away for CLUSTER_LEASE_S
            fault = pool.submit(signal_when_paused, cluster.pause("killed", 3), b, signal.SIGKILL)
            _follow(video, pngs, reference_masks, [3, 4, 5], "across the kill")
            assert fault.result()[0] == b.pid  # the kill reached B mid-frame, where the test meant it to
        assert b.wait(10) == -signal.SIGKILL and video.reconnects == 1
