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
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from websockets.sync.client import connect

from sam2refiner_client import BadRequestError, VideoSession
from tests.tiers import tier
from tests.waiting import wait_until

from ..processes import free_port, frozen, launch, service_env, start_redis, stop, stop_redis, wait_ready
from .video_helpers import assert_mask_matches

PREFIX = "faults"
LEASE_S = 3  # a worker killed mid-frame leaves its lease for this long (the default is 30 s)


class Pause:
    """Frame ``frame_idx`` of ``session`` armed: the worker that tracks it stops mid-frame until released."""

    def __init__(self, folder: Path, session: str, frame_idx: int):
        self.armed = folder / f"{session}.{frame_idx}.armed"
        self.paused = folder / f"{session}.{frame_idx}.paused"
        self.armed.touch()

    def reached(self) -> int:
        """Waits until a worker has paused there; its PID."""
        wait_until(self.paused.exists, 300, f"a worker to pause at {self.paused.name}")
        return int(self.paused.read_text())

    def release(self) -> None:
        self.armed.unlink(missing_ok=True)


class Cluster:
    """Workers by name, on one Redis; each started from the same settings."""

    def __init__(self, checkpoint: str, workdir):
        self.checkpoint, self.workdir = checkpoint, workdir
        self.redis, self.redis_url = start_redis(workdir)
        self.pauses = workdir / "pauses"
        self.pauses.mkdir()
        self.workers: dict[str, tuple] = {}  # name -> (process, port)

    def launch(self, name: str):
        port, log = free_port(), self.workdir / f"{name}.log"
        env = service_env(
            sam2_config="hiera_t",
            image_size="256",
            device="cpu",
            sam2_checkpoint=self.checkpoint,
            warmup="false",
            redis_url=self.redis_url,
            video_key_prefix=PREFIX,
            video_lease_s=str(LEASE_S),
            redis_timeout_s="0.5",
            drain_delay_s="1",
            log_level="warning",
        )
        env["SAM2REFINER_TEST_PAUSE_DIR"] = str(self.pauses)
        args = [
            "-m",
            "uvicorn",
            "sam2refiner.service.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        self.workers[name] = (launch(args, env, log), port)

    def ready(self, *names: str) -> None:
        for name in names:
            proc, port = self.workers[name]
            wait_ready(proc, self.http(name), self.workdir / f"{name}.log")

    def proc(self, name: str):
        return self.workers[name][0]

    def http(self, name: str) -> str:
        return f"http://127.0.0.1:{self.workers[name][1]}"

    def ws(self, name: str) -> str:
        return f"ws://127.0.0.1:{self.workers[name][1]}"

    def pause(self, session: str, frame_idx: int) -> Pause:
        return Pause(self.pauses, session, frame_idx)

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text()

    def restart_redis_empty(self) -> None:
        port = redis.Redis.from_url(self.redis_url).connection_pool.connection_kwargs["port"]
        stop_redis(self.redis)
        self.redis, _ = start_redis(self.workdir, port=port)

    def leases(self) -> list[bytes]:
        return list(redis.Redis.from_url(self.redis_url).scan_iter(match=f"{PREFIX}:video:*:lease"))

    def close(self) -> None:
        for proc, _ in self.workers.values():
            stop(proc)
        stop_redis(self.redis)


@pytest.fixture(scope="module")
@tier("service", "redis")
def cluster(video_checkpoint, tmp_path_factory):
    c = Cluster(video_checkpoint, tmp_path_factory.mktemp("faults"))
    try:
        c.launch("a")
        c.launch("b")
        c.ready("a", "b")
        yield c
    finally:
        c.close()


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

    def sigterm_mid_frame(pause: Pause):
        try:
            paused_pid = pause.reached()
            os.kill(a.pid, signal.SIGTERM)
            return paused_pid, wait_until(not_ready, 30, "A's /readyz to refuse")  # while the frame still waits
        finally:
            pause.release()

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

    def kill_mid_frame(pause: Pause) -> int:
        try:
            paused_pid = pause.reached()
            os.kill(b.pid, signal.SIGKILL)
            return paused_pid
        finally:
            pause.release()  # before A2 gets frame 3 again: B's lease keeps it away for LEASE_S

    with VideoSession([cluster.ws("b"), cluster.ws("a2")], "killed", refine=False, retry_s=LEASE_S + 30) as video:
        _begin(video, pngs, click, reference_masks)
        _follow(video, pngs, reference_masks, [1, 2], "on B")
        with ThreadPoolExecutor(1) as pool:
            fault = pool.submit(kill_mid_frame, cluster.pause("killed", 3))
            _follow(video, pngs, reference_masks, [3, 4, 5], "across the kill")
            assert fault.result() == b.pid  # the kill reached B mid-frame, where the test meant it to
        assert b.wait(10) == -signal.SIGKILL and video.reconnects == 1
