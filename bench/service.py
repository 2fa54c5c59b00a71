"""The image service's costs over real HTTP (uvicorn on a local port), measured in one run.

    python bench/service.py [--sizes 256 1024] [--config hiera_t] [--device cpu|cuda] [--clicks 5] [--clients 8]

Prints, per image size:
  first / click      first request on a new image (decode + encoder with LA's five images + decoder + refiner)
                     over a cached click on its image_id (decoder + refiner only); goal >= 20x at 1024
  http / direct      a cached click over HTTP over the same click as a direct predictor call; goal <= 1.1
  req/s @ N clients  cached clicks per second with N concurrent clients (and with 1, for comparison)
and, with --stream (new images each time, interleaved A, B, A, B; medians and the spread of pairwise ratios):
  streamed first mask / SAM 2 first   time to the first NDJSON line ("sam2") of a streamed refined request over a
                                      refine=false request, both on a new image; goal <= 1.15 at 1024
  streamed refined / SAM 2 first      time to the last line ("refined"); goal <= 5.3
  cached refined / SAM 2 cached click a click on a cached image_id, refine on over refine off; goal <= 3
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import Server  # noqa: E402
from bench.timing import ratio  # noqa: E402
from sam2refiner.model import SAM2RefinerImagePredictor  # noqa: E402
from sam2refiner.service.core.settings import Settings  # noqa: E402

CLICK = {"points": [[320, 240]], "labels": [1]}


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 90, (480, 640, 3), dtype=np.uint8)
    img[120:360, 160:480] = 220
    return img


def _b64(img: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return base64.b64encode(buf.getvalue()).decode()


def _post(client: httpx.Client, body: dict) -> tuple[float, dict]:
    t = time.perf_counter()
    r = client.post("/segment", json=body)
    elapsed = time.perf_counter() - t
    r.raise_for_status()
    return elapsed, r.json()


def _throughput(url: str, image_id: str, clients: int, per_client: int) -> float:
    barrier = threading.Barrier(clients + 1)

    def run():
        with httpx.Client(base_url=url, timeout=600) as c:
            barrier.wait()
            for _ in range(per_client):
                _post(c, {"image_id": image_id, "objects": [CLICK]})

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return clients * per_client / (time.perf_counter() - start)


def _stream(client: httpx.Client, body: dict) -> tuple[float, float, list[dict]]:
    """(seconds to the first line, seconds to the last, the parts) of a streamed request."""
    start, first, parts = time.perf_counter(), None, []
    with client.stream("POST", "/segment", json={**body, "stream": True}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.strip():
                parts.append(json.loads(line))
                first = first or time.perf_counter() - start
    return first, time.perf_counter() - start, parts


def bench_stream(size: int, args) -> dict:
    """Streamed requests on new images against SAM 2's first request, and refined against SAM 2's cached click,
    the two sides of each ratio in turn."""
    settings = Settings(
        sam2_config=args.config, image_size=size, device=args.device, queue_size=64, random_refiner=True
    )
    server = Server(settings)
    first, refined, sam2_first, click_on, click_off = [], [], [], [], []
    try:
        with httpx.Client(base_url=server.url, timeout=1200) as c:
            _post(c, {"image": _b64(_image(999)), "objects": [CLICK], "refine": False})  # warm-up
            engine, runtime = server.app.state.image_engine, server.app.state.runtime

            def idle():  # each timed request starts on an idle worker (a refine=false request on a new image
                while engine.encoder.in_flight or runtime.worker.depth:  # leaves its quadrant passes running)
                    time.sleep(0.05)

            for i in range(args.stream_repeats):
                idle()
                sam2_s, _ = _post(c, {"image": _b64(_image(1000 + 2 * i)), "objects": [CLICK], "refine": False})
                idle()
                t_first, t_last, parts = _stream(
                    c, {"image": _b64(_image(1001 + 2 * i)), "objects": [CLICK], "refine": True}
                )
                assert [p["stage"] for p in parts] == ["sam2", "refined"], parts
                sam2_first.append(sam2_s)
                first.append(t_first)
                refined.append(t_last)
            image_id = parts[-1]["image_id"]
            for _ in range(args.clicks):
                click_on.append(_post(c, {"image_id": image_id, "objects": [CLICK], "refine": True})[0])
                click_off.append(_post(c, {"image_id": image_id, "objects": [CLICK], "refine": False})[0])
    finally:
        server.stop()
    return {
        "size": size,
        "first": first,
        "refined": refined,
        "sam2_first": sam2_first,
        "click_on": click_on,
        "click_off": click_off,
    }


def bench_size(size: int, args) -> dict:
    settings = Settings(
        sam2_config=args.config, image_size=size, device=args.device, queue_size=64, random_refiner=True
    )  # the refined path, as the figures in README say
    server = Server(settings)
    try:
        with httpx.Client(base_url=server.url, timeout=600) as c:
            img = _image(size)
            first_s, first = _post(c, {"image": _b64(img), "objects": [CLICK]})
            image_id = first["image_id"]
            # The same click as a direct predictor call on the same model. The two run in alternating blocks, the
            # first call of each block not counted: torch's CPU thread pool belongs to the calling thread, and
            # switching threads (this one / the server's worker) costs a spin-down that is not the service's.
            predictor = SAM2RefinerImagePredictor(server.app.state.runtime.model)
            predictor.set_image(np.array(Image.open(io.BytesIO(base64.b64decode(_b64(img)))).convert("RGB")))
            clicks, direct = [], []
            for _ in range(2):
                block = [_post(c, {"image_id": image_id, "objects": [CLICK]}) for _ in range(args.clicks + 1)]
                clicks += block[1:]
                for i in range(args.clicks + 1):
                    t = time.perf_counter()
                    predictor.predict(
                        point_coords=CLICK["points"], point_labels=CLICK["labels"], multimask_output=False
                    )
                    if i:
                        direct.append(time.perf_counter() - t)
        click_s, direct_s = statistics.median(t for t, _ in clicks), statistics.median(direct)
        server_click = clicks[-1][1]["timings_ms"]

        with httpx.Client(base_url=server.url, timeout=60) as c:  # the HTTP floor: a round trip doing nothing
            floor = []
            for _ in range(20):
                t = time.perf_counter()
                c.get("/healthz").raise_for_status()
                floor.append(time.perf_counter() - t)
        rps_1 = _throughput(server.url, image_id, 1, args.per_client)
        rps_n = _throughput(server.url, image_id, args.clients, args.per_client)
    finally:
        server.stop()
    return {
        "size": size,
        "first_s": first_s,
        "click_s": click_s,
        "direct_s": direct_s,
        "first_encode_ms": first["timings_ms"]["encode"],
        "click_timings": server_click,
        "rps_1": rps_1,
        "rps_n": rps_n,
        "floor_ms": statistics.median(floor) * 1000,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--config", default="hiera_t")
    p.add_argument("--device", default="cpu")
    p.add_argument("--clicks", type=int, default=5)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--per-client", type=int, default=2)
    p.add_argument("--stream", action="store_true", help="only the streamed / SAM 2 first-request ratios")
    p.add_argument("--stream-repeats", type=int, default=3)
    args = p.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.stream:
        print(
            f"{args.config} on {args.device}, 640x480 JPEG, one click, new image per request, interleaved; "
            f"median ms, ratio median (min-max)"
        )
        for size in args.sizes:
            r = bench_stream(size, args)
            med = lambda v: statistics.median(v) * 1e3  # noqa: E731
            print(
                f"  {size}: SAM 2 first {med(r['sam2_first']):.0f} ms; streamed first mask {med(r['first']):.0f} ms "
                f"= {ratio(r['first'], r['sam2_first'])}; refined {med(r['refined']):.0f} ms = "
                f"{ratio(r['refined'], r['sam2_first'])}; cached click refined {med(r['click_on']):.0f} ms / "
                f"SAM 2 {med(r['click_off']):.0f} ms = {ratio(r['click_on'], r['click_off'])}",
                flush=True,
            )
        return
    rows = [bench_size(size, args) for size in args.sizes]
    print(f"\n{args.config} on {args.device}, 640x480 JPEG, one click prompt, refiner on, median of {2 * args.clicks}")
    print(
        f"{'size':>5} {'first s':>8} {'click s':>8} {'first/click':>11} {'direct s':>9} {'http/direct':>11} "
        f"{'req/s x1':>9} {f'req/s x{args.clients}':>9}"
    )
    for r in rows:
        print(
            f"{r['size']:>5} {r['first_s']:8.3f} {r['click_s']:8.3f} {r['first_s'] / r['click_s']:11.1f} "
            f"{r['direct_s']:9.3f} {r['click_s'] / r['direct_s']:11.2f} {r['rps_1']:9.2f} {r['rps_n']:9.2f}"
        )
    for r in rows:
        t = r["click_timings"]
        print(
            f"  {r['size']}: first request encoder {r['first_encode_ms']:.0f} ms; a click: queue {t['queue_wait']:.1f}, "
            f"decoder {t['decoder']:.1f}, refine {t['refine']:.1f}, encode output {t['encode_output']:.1f}, "
            f"total {t['total']:.1f} ms (server side); GET /healthz round trip {r['floor_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
