"""Video sessions sharing one device worker, over real WebSockets (uvicorn on a local port, sessions in the process
unless --redis URL), measured in one run.

    python bench/video_sessions.py [--size 256] [--sessions 4] [--frames 8] [--rounds 3] [--device cpu]

Rounds take turns (one session, N sessions, clicks on an idle service, clicks while N sessions stream, again ...),
so both sides of each ratio see the same machine load; each ratio is taken round by round and printed as median
(min-max). Every session clicks one object on its first frame (not timed) and streams --frames more, refiner off.
  N sessions / 1 session      total frames per second of N sessions streaming at once over one session streaming
                              alone; goal >= 1.3x for 4
  click while streaming / idle  a cached image click's latency (POST /segment on an image_id, refine off) while N
                              sessions stream over the same click on an idle service; goal <= 2x for 4 (each round
                              also prints how much of it the click waited for the device worker: timings_ms)
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import Server  # noqa: E402
from bench.service import CLICK, _b64, _image, _post  # noqa: E402
from sam2refiner.model.training.synthetic import synthetic_video  # noqa: E402
from sam2refiner.service.core.settings import Settings  # noqa: E402
from sam2refiner_client import VideoSession  # noqa: E402


def _jpegs(size: int, n: int) -> tuple[list[bytes], list[list[float]]]:
    frames, masks = synthetic_video(seed=4, num_frames=n, size=(size * 3 // 4, size), num_objects=1)
    out = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    ys, xs = masks[0, 0].nonzero()
    return out, [[float(xs.mean()), float(ys.mean())]]


def stream(ws_url: str, sessions: int, jpegs: list[bytes], click) -> float:
    """Total frames per second of ``sessions`` sessions streaming ``jpegs[1:]`` at once (after a click on frame 0)."""
    ready = threading.Barrier(sessions + 1)
    done = threading.Barrier(sessions + 1)

    def run():
        with VideoSession(ws_url, f"bench-{uuid.uuid4().hex[:8]}", refine=False) as video:
            video.frame(jpegs[0])
            video.prompt([{"obj_id": 1, "points": click, "labels": [1]}])
            ready.wait()
            for jpeg in jpegs[1:]:
                video.frame(jpeg)
            done.wait()
            video.close()

    threads = [threading.Thread(target=run) for _ in range(sessions)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    done.wait()
    elapsed = time.perf_counter() - start
    for t in threads:
        t.join()
    return sessions * (len(jpegs) - 1) / elapsed


def _click(c: httpx.Client, image_id: str) -> tuple[float, float]:
    """(latency, of which the server's device-queue wait) of one cached click, in seconds."""
    elapsed, reply = _post(c, {"image_id": image_id, "objects": [CLICK], "refine": False})
    return elapsed, reply["timings_ms"]["queue_wait"] / 1e3


def clicks(url: str, image_id: str, n: int) -> list[tuple[float, float]]:
    with httpx.Client(base_url=url, timeout=600) as c:
        return [_click(c, image_id) for _ in range(n)]


def clicks_while_streaming(url, ws_url, image_id, sessions: int, jpegs, click, n: int) -> list[tuple[float, float]]:
    """Click latencies, ``n`` clicks one after another while ``sessions`` sessions stream (only those sent while
    every session was still streaming count)."""
    out: list[tuple[float, float]] = []
    streaming = threading.Thread(target=stream, args=(ws_url, sessions, jpegs, click))
    streaming.start()
    with httpx.Client(base_url=url, timeout=600) as c:
        while streaming.is_alive() and len(out) < n:
            out.append(_click(c, image_id))
    streaming.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--config", default="hiera_t")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8, help="frames each session streams per round (timed)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=8, help="clicks per click round")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--redis", default="", help="a Redis URL for the sessions' state (default: in the process)")
    parser.add_argument(
        "--stream-thread",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="video frames on a device thread of their own (SAM2REFINER_STREAM_THREAD, the service's default)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    settings = Settings(
        sam2_config=args.config,
        image_size=args.size,
        device=args.device,
        queue_size=64,
        random_refiner=True,
        redis_url=args.redis,
        warmup=False,
        stream_thread=args.stream_thread,
    )
    server = Server(settings)
    ws_url = server.url.replace("http://", "ws://")
    jpegs, click = _jpegs(args.size, args.frames + 1)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as c:
            image_id = _post(c, {"image": _b64(_image(args.size)), "objects": [CLICK]})[1]["image_id"]
        stream(ws_url, 1, jpegs[:3], click)  # warm-up: lazy initialisation of the video path
        one, many, idle, busy, busy_wait = [], [], [], [], []
        for r in range(args.rounds):
            one.append(stream(ws_url, 1, jpegs, click))
            many.append(stream(ws_url, args.sessions, jpegs, click))
            idle.append(statistics.median(t for t, _ in clicks(server.url, image_id, args.clicks)))
            during = clicks_while_streaming(server.url, ws_url, image_id, args.sessions, jpegs, click, args.clicks)
            busy.append(statistics.median(t for t, _ in during))
            busy_wait.append(statistics.median(w for _, w in during))
            print(
                f"round {r + 1}: 1 session {one[-1]:.2f} fps, {args.sessions} sessions {many[-1]:.2f} fps; "
                f"click idle {idle[-1] * 1e3:.0f} ms, while streaming {busy[-1] * 1e3:.0f} ms "
                f"(of which waiting for the device worker {busy_wait[-1] * 1e3:.0f} ms)",
                flush=True,
            )
    finally:
        server.stop()

    def spread(a, b):
        r = [x / y for x, y in zip(a, b)]
        return f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})"

    n = args.sessions
    print(
        f"\n{args.config} at {args.size}, {args.device}, torch threads {torch.get_num_threads()}, refine off, "
        f"{args.rounds} rounds of {args.frames} frames per session, stream thread {args.stream_thread}"
    )
    print(f"  {n} sessions / 1 session total fps: {spread(many, one)}  (goal >= 1.3x for 4)")
    print(f"  click while {n} stream / idle: {spread(busy, idle)}  (goal <= 2x for 4)")


if __name__ == "__main__":
    main()
