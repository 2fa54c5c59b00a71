"""Click-to-overlay time in Chromium: clicks decoded in the page (SAM 2's decoder on onnxruntime-web) against
clicks decoded by the server (POST /segment on the cached image), refine off, at 1024.

    python bench/browser_decoder.py [--repeats 30] [--config hiera_t] [--size 1024] [--width 1024 --height 768]

Starts the service (random weights unless SAM2REFINER_SAM2_CHECKPOINT is set; no refiner: SAM 2's path) and
Debian's chromium (Playwright), opens a picture and clicks it once (the server encodes it; the page then fetches
its features). Then, A, B, A, B ...: a new object gets one click at a random pixel, decoded in the page (A) or by
the server (B: the page's segmenter with its local decoder set aside), and the object is removed. The time is
from the pointerdown event to the animation frame after the page drew the mask (the overlay on screen), measured
in the page. Prints per side the median and the spread (min - max), the pairwise ratio B / A, and the decoder's
own time in the worker (A) and on the server (B); for A also where its time goes (onnxruntime's run, the rest of
the worker's decode, and what happens outside the worker). Goal (issue 18): local p50 under 60 ms and >= 2x faster.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.first_run import free_port  # noqa: E402
from bench.timing import ratio  # noqa: E402

HOOK = """() => {
  const bench = window.__bench = { t0: 0, waiting: false, done: null };
  document.getElementById('image-prompts').addEventListener('pointerdown', (e) => {
    bench.t0 = e.timeStamp; bench.waiting = true; bench.done = null;
  }, true);
  const view = window.sam2refiner.image.view, render = view.render.bind(view);
  view.render = (state, ui) => {
    render(state, ui);
    if (bench.waiting && ui.pending === 0) {
      bench.waiting = false;
      requestAnimationFrame(() => { bench.done = performance.now() - bench.t0; });
    }
  };
}"""

SIDE = """(local) => {
  const s = window.sam2refiner.image.segmenter;
  s.kept ??= s.local;
  s.local = local ? s.kept : null;
  window.sam2refiner.image.newObject();
}"""

LAST = """() => {
  const mode = window.sam2refiner.image, obj = mode.state.selected, s = mode.state.current(obj);
  const out = { local: !!s.local, decoder: Number(s.timings?.decoder ?? NaN), run: Number(s.timings?.decoder_run ?? NaN) };
  mode.remove(obj.id);
  return out;
}"""


def start_service(args, cache_dir: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("SAM2REFINER_") or k == "SAM2REFINER_SAM2_CHECKPOINT"
    }
    env.update(
        SAM2REFINER_PORT=str(port),
        SAM2REFINER_HOST="127.0.0.1",
        SAM2REFINER_SAM2_CONFIG=args.config,
        SAM2REFINER_IMAGE_SIZE=str(args.size),
        SAM2REFINER_DEVICE=args.device,
        SAM2REFINER_DECODER_CACHE_DIR=cache_dir,
        SAM2REFINER_LOG_LEVEL="warning",
    )
    proc = subprocess.Popen([sys.executable, "-m", "sam2refiner.service"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the service exited")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the service did not become ready in 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--config", default="hiera_t")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        picture = Path(tmp) / "bench.png"
        pixels = rng.integers(0, 90, (args.height, args.width, 3), dtype=np.uint8)
        pixels[args.height // 4 : 3 * args.height // 4, args.width // 4 : 3 * args.width // 4] = (230, 120, 40)
        Image.fromarray(pixels).save(picture)
        proc, url = start_service(args, str(Path(tmp) / "onnx"))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(url)
                page.wait_for_function(
                    "document.getElementById('image-decoder-note').textContent !== ''", timeout=600_000
                )
                print(page.locator("#image-decoder-note").text_content())
                isolated = page.evaluate("[crossOriginIsolated, navigator.hardwareConcurrency]")
                threads = "possible" if isolated[0] else "impossible: one thread"
                print(f"cross-origin isolated: {isolated[0]} (onnxruntime-web threads {threads}), {isolated[1]} cores")
                page.set_input_files("#image-file", str(picture))
                page.wait_for_function("window.sam2refiner.image.state.image !== null")
                stage = page.locator("#image-prompts").bounding_box()

                def click_at(fx: float, fy: float) -> None:
                    page.mouse.click(stage["x"] + fx * stage["width"], stage["y"] + fy * stage["height"])

                page.evaluate(HOOK)
                page.evaluate(SIDE, True)
                click_at(0.5, 0.5)  # the server encodes the picture; the page fetches its features
                page.wait_for_function("window.__bench.done !== null", timeout=600_000)
                page.evaluate("(m => m.segmenter.kept.loadFeatures(m.state.image.imageId))(window.sam2refiner.image)")
                page.evaluate(LAST)

                times = {"local": [], "server": []}
                decoder = {"local": [], "server": []}
                run = []  # onnxruntime-web's run, in the worker's decode
                for i in range(args.repeats + 1):  # the first pair warms both paths up, untimed
                    for side in ("local", "server"):
                        page.evaluate(SIDE, side == "local")
                        click_at(*rng.uniform(0.1, 0.9, 2))
                        page.wait_for_function("window.__bench.done !== null", timeout=120_000)
                        elapsed = page.evaluate("window.__bench.done")
                        last = page.evaluate(LAST)
                        assert last["local"] == (side == "local"), last
                        if i:
                            times[side].append(elapsed / 1e3)
                            decoder[side].append(last["decoder"])
                            if side == "local":
                                run.append(last["run"])
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)

    print(f"{args.config} at {args.size}, picture {args.width}x{args.height}, {args.repeats} pairs, refine off")
    for side in ("local", "server"):
        t = times[side]
        print(
            f"  {side:6s} click-to-overlay: median {statistics.median(t) * 1e3:.1f} ms "
            f"({min(t) * 1e3:.1f}-{max(t) * 1e3:.1f}); decoder {statistics.median(decoder[side]):.1f} ms"
        )
    rest = statistics.median([d - r for d, r in zip(decoder["local"], run)])
    page = statistics.median([t * 1e3 - d for t, d in zip(times["local"], decoder["local"])])
    print(
        f"  local, split: onnxruntime run {statistics.median(run):.1f} ms, the rest of the worker's decode "
        f"{rest:.1f} ms, outside the worker (messages, RLE, drawing, the frame) {page:.1f} ms"
    )
    print(f"  server / local: {ratio(times['server'], times['local'])}")
    local_p50 = statistics.median(times["local"]) * 1e3
    speedup = statistics.median([s / loc for s, loc in zip(times["server"], times["local"])])
    print(
        f"  goal: local p50 < 60 ms ({'met' if local_p50 < 60 else 'NOT met'}), >= 2x ({'met' if speedup >= 2 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
