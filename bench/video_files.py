"""Video file sessions (``/videos``) over real HTTP (uvicorn in this process), measured in one run.

    python bench/video_files.py [--sizes 256 512] [--frames 24] [--chunk 4] [--clicks 6] [--redis URL]

hiera_t, random weights, the refiner off, CPU unless --device cuda. Prints, per model size:
  propagation            frames/s of one propagation over the whole clip (one object), as the client receives them
  file / websocket       per frame: a file session's propagation over the same frames sent to a WebSocket session
                         (its state in the same store); the two take turns in chunks of --chunk frames (file chunk,
                         socket chunk, ...), ratios pair by pair: median (min-max); goal <= 1.10
  click busy / idle      a cached click (another user's session, its frame's features cached) while a propagation
                         runs over the same click on an idle service; idle and busy clicks take turns (each busy
                         click is sent as the propagation's second frame starts, or at a random moment within a
                         frame's time after that; then the propagation is cancelled); goal <= 2
With --redis the sessions live in that Redis (as with several workers), else in the process.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import av
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import Server  # noqa: E402
from bench.timing import ratio  # noqa: E402
from sam2refiner.model.training.synthetic import synthetic_video  # noqa: E402
from sam2refiner.service.core.settings import Settings  # noqa: E402
from sam2refiner_client import VideoSession  # noqa: E402


def _mp4(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return buf.getvalue()


def _click(mask: np.ndarray) -> list[list[float]]:
    ys, xs = np.nonzero(mask)
    i = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    return [[float(xs[i]), float(ys[i])]]


def _stream(client: httpx.Client, url: str, body: dict, on_first=None) -> tuple[list[dict], list[float]]:
    """The propagation's lines and the arrival time of each."""
    lines, times = [], []
    with client.stream("POST", url, json=body) as r:
        for raw in r.iter_lines():
            if raw:
                lines.append(json.loads(raw))
                times.append(time.perf_counter())
                if on_first is not None and len(lines) == 1:
                    on_first()
    return lines, times


def bench_size(args, size: int) -> None:
    frames, masks = synthetic_video(seed=3, num_frames=args.frames, size=(240, 320), num_objects=2, kinds=("holed",))
    mp4 = _mp4(frames)
    settings = Settings(
        sam2_config="hiera_t",
        image_size=size,
        device=args.device,
        fetch_weights=False,
        warmup=False,
        redis_url=args.redis,
        video_key_prefix=f"bench-{uuid.uuid4().hex[:8]}",
    )
    server = Server(settings)
    client = httpx.Client(base_url=server.url, timeout=600)
    try:
        video = client.post("/videos", files={"file": ("clip.mp4", mp4)}).json()["video_id"]
        click = {"frame": 0, "object_id": 1, "points": _click(masks[0, 0]), "labels": [1]}
        client.post(f"/videos/{video}/prompts", json=click).raise_for_status()

        # propagation frames/s (the first run also warms up every frame's decode)
        start = time.perf_counter()
        lines, _ = _stream(client, f"/videos/{video}/propagate", {})
        wall = time.perf_counter() - start
        print(f"  propagation          {args.frames / wall:.2f} frames/s ({args.frames} frames in {wall:.1f} s)")

        # file mode and WebSocket mode per frame, in turns of --chunk frames
        jpegs = [client.get(f"/videos/{video}/frames/{k}").content for k in range(args.frames)]
        ws_url = server.url.replace("http", "ws")
        file_s, ws_s = [], []
        with VideoSession(ws_url, f"bench-{uuid.uuid4().hex[:8]}", refine=False) as ws:
            ws.frame(jpegs[0])
            ws.prompt([{"obj_id": 1, "points": click["points"], "labels": [1]}])
            for k in range(1, args.frames - args.chunk + 1, args.chunk):
                body = {"start_frame": k, "end_frame": k + args.chunk - 1}
                t = time.perf_counter()
                _stream(client, f"/videos/{video}/propagate", body)
                file_s.append((time.perf_counter() - t) / args.chunk)
                t = time.perf_counter()
                for j in range(k, k + args.chunk):
                    ws.frame(jpegs[j])
                ws_s.append((time.perf_counter() - t) / args.chunk)
        print(
            f"  file / websocket     {ratio(file_s, ws_s)} per frame "
            f"(file {statistics.median(file_s) * 1e3:.0f} ms, socket {statistics.median(ws_s) * 1e3:.0f} ms)"
        )

        # a cached click on another session, idle and during a propagation, in turns
        other = client.post("/videos", files={"file": ("clip.mp4", mp4)}).json()["video_id"]
        other_click = {**click, "frame": 3, "object_id": 1, "points": _click(masks[3, 1])}
        client.post(f"/videos/{other}/prompts", json=other_click).raise_for_status()  # features now cached

        def timed_click() -> float:
            t = time.perf_counter()
            client.post(f"/videos/{other}/prompts", json=other_click).raise_for_status()
            return time.perf_counter() - t

        idle, at_start, anytime = [], [], []
        frame_s = statistics.median(file_s)
        rng = random.Random(0)
        for _ in range(args.clicks):
            idle.append(timed_click())
            for clicks, delay in ((at_start, 0.0), (anytime, rng.uniform(0, frame_s))):
                running = threading.Event()
                stream_client = httpx.Client(base_url=server.url, timeout=600)
                worker = threading.Thread(
                    target=_stream,
                    args=(stream_client, f"/videos/{video}/propagate", {}),
                    kwargs={"on_first": running.set},
                )
                worker.start()
                running.wait(600)  # frame 0 (prompted) is out: frame 1's encoder pass starts now
                time.sleep(delay)
                clicks.append(timed_click())
                client.post(f"/videos/{video}/cancel")
                worker.join(600)
                stream_client.close()
        for name, busy in (("as a frame starts", at_start), ("at a random moment", anytime)):
            print(
                f"  click busy / idle    {ratio(busy, idle)} {name} "
                f"(busy {statistics.median(busy) * 1e3:.0f} ms, idle {statistics.median(idle) * 1e3:.0f} ms)"
            )
    finally:
        client.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--chunk", type=int, default=4)
    parser.add_argument("--clicks", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--redis", default=None, help="Redis URL for the sessions (default: in the process)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    for size in args.sizes:
        print(f"image size {size}:")
        bench_size(args, size)


if __name__ == "__main__":
    main()
