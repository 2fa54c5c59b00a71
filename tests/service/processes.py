"""Service processes for the tests that need a real uvicorn on a port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


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
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout_s: float = 240, workers: int = 1) -> None:
    """Until /readyz answers 200 and, with several uvicorn workers, every worker has logged that it is warm
    (one worker's 200 says nothing of the others, which may still be warming up on a busy machine)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200 and (
                workers == 1 or log_path.read_text().count("ready (warm-up took") >= workers
            ):
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "service did not become ready:\n" + log_path.read_text()
        time.sleep(0.5)


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
    """A redis-server of the test's own on a free port (no persistence), ready; stop it with ``stop_redis``."""
    import shutil

    import redis

    assert shutil.which("redis-server"), "redis-server is not installed (apt-get install redis-server; .ci/run does)"
    port = port or free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            if redis.Redis.from_url(url, socket_timeout=0.5).ping():
                return proc, url
        except redis.exceptions.ConnectionError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)


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
