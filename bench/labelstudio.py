"""Label Studio's path vs the service's own: a click through Label Studio's interactive annotation against a direct
``POST /segment`` click (same image, already encoded), and a video keyframe's tracked sequence against the same
frames sent over the video WebSocket, per frame.

    python bench/labelstudio.py [--repeats 15] [--video-repeats 3] [--size 256]

Starts a real Label Studio (the tests' virtualenv: .venv-labelstudio or SAM2REFINER_TEST_LABEL_STUDIO_VENV) and
the service (hiera_t, random weights, refiner off, CPU), makes a project with the SDK, and times the two sides in
turn (A, B, A, B, ...; bench/timing.py): medians, the pairwise ratio's median and spread (min-max).
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.timing import interleaved, median_ms, ratio  # noqa: E402
from tests.integrations.direct import png_bytes  # noqa: E402
from tests.integrations.labelstudio_process import running_label_studio  # noqa: E402
from tests.integrations.media import FPS, FRAMES, HEIGHT, WIDTH, read_video, write_video  # noqa: E402
from tests.service import processes  # noqa: E402

# One project per data type: Label Studio 1.23 refuses a task that lacks any of its config's data keys.
IMAGE_CONFIG = """<View><Image name="image" value="$image"/>
<BrushLabels name="brush" toName="image"><Label value="thing"/></BrushLabels>
<KeyPointLabels name="click" toName="image" smart="true"><Label value="thing" smart="true"/></KeyPointLabels></View>"""
VIDEO_CONFIG = """<View><Labels name="labels" toName="video"><Label value="ball"/></Labels>
<Video name="video" value="$video" framerate="8"/><VideoRectangle name="track" toName="video"/></View>"""


def spread(values: list[float]) -> str:
    return f"{median_ms(values)} ({min(values) * 1e3:.1f}-{max(values) * 1e3:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--video-repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="encoder input side")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-labelstudio-"))
    port = processes.free_port()
    from sam2refiner_client import VideoSession

    with (
        processes.running_service(
            work,
            sam2_config="hiera_t",
            image_size=str(args.size),
            device="cpu",
            labelstudio_url=f"http://127.0.0.1:{port}",
            labelstudio_token="sam2refiner-test-token",
        ) as (service, _),
        running_label_studio(work, port) as ls,
    ):
        rng = np.random.default_rng(0)
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        (ls.media / "m").mkdir()
        Image.fromarray(image).save(ls.media / "m" / "image.png")
        write_video(ls.media / "m" / "clip.mp4")

        def project(title: str, config: str, data: dict) -> tuple[int, int]:
            """(the ML backend's id, the task's id) of a new project with one task."""
            made = ls.sdk(
                {
                    "command": "project",
                    "title": title,
                    "label_config": config,
                    "local_root": str(ls.media / "m"),
                    "tasks": [{"data": data}],
                    "backend": {"url": f"{service}/labelstudio"},
                }
            )
            return made["ml"], made["tasks"][0]

        image_ml, image_task = project("bench images", IMAGE_CONFIG, {"image": "/data/local-files/?d=m/image.png"})
        video_ml, video_task = project("bench video", VIDEO_CONFIG, {"video": "/data/local-files/?d=m/clip.mp4"})
        kp = {"from_name": "click", "to_name": "image", "type": "keypointlabels", "is_positive": True}
        kp |= {
            "original_width": 640,
            "original_height": 480,
            "value": {"x": 50.0, "y": 50.0, "keypointlabels": ["thing"]},
        }
        body = {
            "image": base64.b64encode(png_bytes(image)).decode(),
            "objects": [{"points": [[320, 240]], "labels": [1]}],
        }
        image_id = httpx.post(f"{service}/segment", json=body, timeout=300).json()["image_id"]
        client = httpx.Client(timeout=300)

        def through_label_studio():
            r = client.post(
                f"{ls.url}/api/ml/{image_ml}/interactive-annotating",
                json={"task": image_task, "context": {"result": [kp]}},
                headers=ls.headers,
            )
            assert r.status_code == 200 and "data" in r.json(), r.text

        def direct():
            r = client.post(
                f"{service}/segment",
                json={
                    "image_id": image_id,
                    "objects": [{"points": [[320.0, 240.0]], "labels": [1]}],
                    "multimask": True,
                },
            )
            assert r.status_code == 200, r.text

        times = interleaved({"label studio": through_label_studio, "direct": direct}, args.repeats, warmup=2)
        print(f"click on a cached 640x480 image ({args.repeats} pairs, encoder side {args.size}):")
        print(f"  through Label Studio  {spread(times['label studio'])}")
        print(f"  POST /segment         {spread(times['direct'])}")
        print(f"  ratio                 {ratio(times['label studio'], times['direct'])}")

        frames = [png_bytes(f) for f in read_video(ls.media / "m" / "clip.mp4")]
        box = {"x": 12.5, "y": 29.2, "width": 32.8, "height": 43.8}
        region = {"id": "b", "from_name": "track", "to_name": "video", "type": "videorectangle"}
        region["value"] = {"sequence": [{"frame": 1, "enabled": True, **box}], "labels": ["ball"]}
        runs = {"n": 0}

        def video_label_studio():
            r = client.post(
                f"{ls.url}/api/ml/{video_ml}/interactive-annotating",
                json={"task": video_task, "context": {"result": [region]}},
                headers=ls.headers,
            )
            assert r.status_code == 200 and "data" in r.json(), r.text

        def video_websocket():
            runs["n"] += 1
            ws = "ws" + service[len("http") :]
            px = [box["x"] * WIDTH / 100, box["y"] * HEIGHT / 100]
            px += [px[0] + box["width"] * WIDTH / 100, px[1] + box["height"] * HEIGHT / 100]
            with VideoSession(ws, f"bench-{runs['n']}") as video:
                for i, frame in enumerate(frames):
                    video.frame(frame)
                    if i == 0:
                        video.prompt([{"obj_id": 1, "box": px}])
                video.close()

        times = interleaved({"ls": video_label_studio, "ws": video_websocket}, args.video_repeats, warmup=1)
        per_frame = {k: [t / FRAMES for t in v] for k, v in times.items()}
        print(
            f"video keyframe -> {FRAMES} frames of {WIDTH}x{HEIGHT} at {FPS} fps ({args.video_repeats} pairs), per frame:"
        )
        print(f"  Label Studio sequence {spread(per_frame['ls'])}")
        print(f"  video WebSocket       {spread(per_frame['ws'])}")
        print(f"  ratio                 {ratio(per_frame['ls'], per_frame['ws'])}")
        print(f"load average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        client.close()


if __name__ == "__main__":
    main()
