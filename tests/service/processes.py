"""Processes for the tests that need a real uvicorn on a port or a redis-server of their own; each is started on
a free port and stopped by its PID. What they start is recorded in ``STARTED`` for the tier check
(tests/tiers.py): a test that starts one must be marked ``service`` or ``redis``.

``Cluster`` is the fault tests' set of uvicorn workers on one Redis of their own; ``Pause`` and
``signal_when_paused`` signal a worker at a known point of a frame (service/video/pause_point.py), not at a moment."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
STARTED: list[str] = []  # "service" or "redis", one per process started, in order


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(**settings: str) -> dict:
    """This process's environment without any SAM2REFINER_ setting, plus ``settings`` (names without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAM2REFINER_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({f"SAM2REFINER_{k.upper()}": v for k, v in settings.items()})
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def launch(args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    """``python <args>`` from the repository root, its output in ``log_path``."""
    STARTED.append("service")
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout_s: float = 240, workers: int = 1) -> None:
    """Until /readyz answers 200 and, with several uvicorn workers, every worker has logged that it is warm
    (one worker's 200 says nothing of the others, which may still be warming up on a busy machine)."""

    def ready() -> bool:
        assert proc.poll() is None, f"the service exited with code {proc.returncode}:\n{log_path.read_text()}"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
        return workers == 1 or log_path.read_text().count("ready (warm-up took") >= workers

    try:
        wait_until(ready, timeout_s, f"the service at {url} to become ready")
    except AssertionError as e:
        if proc.poll() is not None:
            raise
        raise AssertionError(f"{e}:\n{log_path.read_text()}") from None


@contextmanager
def running_service(log_dir: Path, workers: int = 1, **settings: str) -> Iterator[tuple[str, Path]]:
    """``python -m sam2refiner.service`` on a free loopback port with ``settings`` (names without the prefix), ready (every
    worker warm) inside the with-block and stopped after it; yields (url, path of its log)."""
    port = free_port()
    log_path = log_dir / "server.log"
    env = service_env(host="127.0.0.1", port=str(port), workers=str(workers), **settings)
    proc = launch(["-m", "sam2refiner.service"], env, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, log_path, workers=workers)
        yield url, log_path
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_redis(workdir: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """A redis-server of the test's own on a free port (no persistence, ``workdir`` its folder), ready; stop it
    with ``stop_redis``."""
    assert shutil.which("redis-server"), "redis-server is not installed (apt-get install redis-server; .ci/run does)"
    port = port or free_port()
    STARTED.append("redis")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=0.5)

    def answers() -> bool:
        assert proc.poll() is None, f"redis-server exited with code {proc.returncode} (port {port} taken?)"
        try:
            return client.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return False

    try:
        wait_until(answers, 10, f"redis-server on port {port} to answer")
    except BaseException:
        stop_redis(proc)
        raise
    finally:
        client.close()
    return proc, url


@contextmanager
def frozen(proc: subprocess.Popen) -> Iterator[None]:
    """``proc`` stopped (SIGSTOP) inside the with-block, resumed (SIGCONT) after it: a stalled server."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def stop_redis(proc: subprocess.Popen) -> None:
    """Stops it by its PID, also when a test left it stopped (SIGSTOP)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(10)


# ------------------------------------------------------------------ worker clusters and faults
CLUSTER_PREFIX = "faults"  # the workers' Redis key prefix
CLUSTER_LEASE_S = 3  # a worker killed mid-frame leaves its lease for this long (the default is 30 s)


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


def signal_when_paused(pause: Pause, proc: subprocess.Popen, sig: int, then: Callable[[], Any] = lambda: None):
    """Once a worker has paused at ``pause``: ``sig`` to ``proc``, then ``then()`` while the frame still waits, then
    the pause released (also when something failed). (PID of the worker that paused, what ``then`` returned): the
    caller checks that the PID is ``proc``'s, that the signal reached it mid-frame."""
    try:
        paused_pid = pause.reached()
        os.kill(proc.pid, sig)
        return paused_pid, then()
    finally:
        pause.release()


class Cluster:
    """uvicorn workers by name (each its own process, started from the same settings) on one redis-server of
    their own; the workers pause where a test arms a ``Pause``."""

    def __init__(self, checkpoint: str, workdir: Path):
        self.checkpoint, self.workdir = checkpoint, workdir
        self.redis, self.redis_url = start_redis(workdir)
        self.pauses = workdir / "pauses"
        self.pauses.mkdir()
        self.workers: dict[str, tuple] = {}  # name -> (process, port)

    def launch(self, name: str) -> None:
        port, log = free_port(), self.workdir / f"{name}.log"
        env = service_env(
            sam2_config="hiera_t",
            image_size="256",
            device="cpu",
            sam2_checkpoint=self.checkpoint,
            warmup="false",
            redis_url=self.redis_url,
            video_key_prefix=CLUSTER_PREFIX,
            video_lease_s=str(CLUSTER_LEASE_S),
            redis_timeout_s="0.5",
            drain_delay_s="1",
            log_level="warning",
        )
        env["SAM2REFINER_TEST_PAUSE_DIR"] = str(self.pauses)
        args = ["-m", "uvicorn", "sam2refiner.service.app:create_app", "--factory"]
        self.workers[name] = (launch([*args, "--host", "127.0.0.1", "--port", str(port)], env, log), port)

    def ready(self, *names: str) -> None:
        for name in names:
            proc, _ = self.workers[name]
            wait_ready(proc, self.http(name), self.workdir / f"{name}.log")

    def proc(self, name: str) -> subprocess.Popen:
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
        return list(redis.Redis.from_url(self.redis_url).scan_iter(match=f"{CLUSTER_PREFIX}:video:*:lease"))

    def close(self) -> None:
        for proc, _ in self.workers.values():
            stop(proc)
        stop_redis(self.redis)


@contextmanager
def running_cluster(checkpoint: str, workdir: Path, *names: str) -> Iterator[Cluster]:
    """A ``Cluster`` with workers ``names``, every one ready inside the with-block; all stopped after it."""
    cluster = Cluster(checkpoint, workdir)
    try:
        for name in names:
            cluster.launch(name)
        cluster.ready(*names)
        yield cluster
    finally:
        cluster.close()
