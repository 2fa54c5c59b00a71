"""Where the page shows a picture, where a click lands and where the overlay is drawn, found from the screen.

One page per device pixel ratio; inside it, every picture of the issue at every viewport (the window is resized
between them, as a user would). The picture is one flat colour, so a screenshot of the stage shows exactly where
it is displayed; the service's /segment is answered by the test with a mask covering the whole picture (the
masks' content is the other tests' business: here only where they land), so the overlay's tint must cover that
same rect and nothing outside it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

PICTURES = [(1920, 1080), (720, 1280), (4000, 1000), (1000, 3000), (33, 17)]
VIEWPORTS = [(1280, 720), (1400, 900), (2560, 1440)]
PICTURE_RGB = (200, 40, 160)  # no other pixel of the stage has it
STAGE = "#image-stage"


def full_mask_answer(width: int, height: int) -> dict:
    rle = mask_utils.encode(np.asfortranarray(np.ones((height, width), np.uint8)))
    mask = {"size": [height, width], "counts": rle["counts"].decode()}
    return {"image_id": "img_" + "1" * 32, "objects": [{"masks": [{"mask": mask, "score": 0.9}]}], "timings_ms": {}}


def stage_pixels(page) -> tuple[np.ndarray, dict]:
    """The stage as the screen shows it (device pixels) and its box on the page (CSS pixels, inside the border)."""
    box = page.evaluate(
        "(s) => { const e = document.querySelector(s), r = e.getBoundingClientRect();"
        " return { x: r.left + e.clientLeft, y: r.top + e.clientTop, width: e.clientWidth, height: e.clientHeight }; }",
        STAGE,
    )
    png = page.screenshot(clip=box, animations="disabled", caret="initial")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int), box


def bbox(where: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(where)
    assert len(xs), "nothing found"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def settle(page) -> None:
    """Two animation frames: the resize observer has laid the picture out and the screen shows it."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.mark.parametrize("dpr", [1, 2])
def test_clicks_and_overlays_land_on_the_letterboxed_picture(browser, web_server, tmp_path, dpr):
    context = browser.new_context(viewport={"width": 1280, "height": 720}, device_scale_factor=dpr)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    answers: list[dict] = []

    def answer_segment(route):
        body = route.request.post_data_json
        answers.append(body)
        w, h = page_size["now"]
        route.fulfill(json=full_mask_answer(w, h))

    def bigger_limit(route):  # the test service's pixel limit is small; these pictures are not
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "max_image_pixels": 50_000_000})

    page_size = {"now": (0, 0)}
    page.route("**/segment", answer_segment)
    page.route("**/v1/model", bigger_limit)
    page.goto(web_server["page"])
    page.wait_for_function("document.getElementById('model-banner').textContent.includes('px')")
    page.locator("#image-refine").uncheck()  # one plain JSON answer per click

    report = []
    for width, height in PICTURES:
        path = tmp_path / f"{width}x{height}.png"
        Image.new("RGB", (width, height), PICTURE_RGB).save(path)
        page_size["now"] = (width, height)
        page.evaluate("window.sam2refiner.image.clearAll()")
        page.set_input_files("#image-file", str(path))
        page.wait_for_function(f"window.sam2refiner.image.state.image?.name === '{path.name}'")
        for vw, vh in VIEWPORTS:
            case = f"{width}x{height} at {vw}x{vh}, dpr {dpr}"
            page.set_viewport_size({"width": vw, "height": vh})
            settle(page)
            page.evaluate("window.sam2refiner.image.selectNone()")
            page.evaluate("window.sam2refiner.image.state.objects.forEach(o => o.hidden = true)")
            page.evaluate("window.sam2refiner.image.showState()")
            settle(page)
            shot, stage = stage_pixels(page)
            picture = np.abs(shot - PICTURE_RGB).max(-1) <= 6
            x0, y0, x1, y1 = bbox(picture)
            assert picture[y0:y1, x0:x1].mean() > 0.999, f"{case}: the picture is not one rect"
            shown_w, shown_h = (x1 - x0) / dpr, (y1 - y0) / dpr  # CSS pixels
            # letterboxed: the whole stage one way, centred, at the picture's own aspect ratio
            assert abs(shown_w - stage["width"]) <= 1 or abs(shown_h - stage["height"]) <= 1, case
            assert abs(x0 - (shot.shape[1] - x1)) <= 2 and abs(y0 - (shot.shape[0] - y1)) <= 2, case
            # (the side that does not fill the stage is rounded to a device pixel; the screenshot adds one more)
            stretch = (shown_w / width) / (shown_h / height) - 1
            assert abs(stretch) <= 1.5 / min(shown_w, shown_h), f"{case}: shown {shown_w}x{shown_h}, {stretch:+.2%}"

            # Clicks at known image pixels, placed from where the screen shows the picture, are sent as those
            # pixels: to within one image pixel, or one device pixel in image pixels when the picture is shrunk
            # (where the screenshot can place the picture's edge).
            scale = width / shown_w  # image pixels per CSS pixel
            tolerance = max(1.0, scale / dpr) + 0.01
            for fx, fy in [(0.1, 0.15), (0.93, 0.88)]:
                px, py = int(fx * width) + 0.5, int(fy * height) + 0.5
                cx = stage["x"] + x0 / dpr + px / width * shown_w
                cy = stage["y"] + y0 / dpr + py / height * shown_h
                n = len(answers)
                page.mouse.click(cx, cy)
                page.wait_for_function("window.sam2refiner.image.pending === 0")
                assert len(answers) == n + 1, case
                sent = answers[-1]["objects"][0]["points"][-1]
                error = max(abs(sent[0] - px), abs(sent[1] - py))
                report.append((error, error / scale * dpr, case))
                assert abs(sent[0] - px) <= tolerance and abs(sent[1] - py) <= tolerance, (
                    f"{case}: clicked image pixel {(px, py)}, sent {sent} (tolerance {tolerance:.2f})"
                )

            # The answer's mask covers the whole picture: its tint, read back from the screen, covers exactly
            # the picture's rect; the stage around it is untouched.
            settle(page)
            masked, _ = stage_pixels(page)
            changed = np.abs(masked - shot).max(-1) > 12
            mx0, my0, mx1, my1 = bbox(changed)
            assert max(abs(mx0 - x0), abs(my0 - y0), abs(mx1 - x1), abs(my1 - y1)) <= 1, (
                f"{case}: overlay at {(mx0, my0, mx1, my1)}, picture at {(x0, y0, x1, y1)} (device px)"
            )
            inner = changed[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1]
            assert inner.size == 0 or inner.mean() > 0.999, f"{case}: the overlay leaves part of the picture bare"
    context.close()
    assert not errors, errors
    in_image, in_device = max(report), max(report, key=lambda r: r[1])
    print(
        f"dpr {dpr}, {len(report)} clicks: worst {in_image[0]:.2f} image px ({in_image[1]:.2f} device px, {in_image[2]});"
        f" worst {in_device[1]:.2f} device px ({in_device[0]:.2f} image px, {in_device[2]})"
    )
