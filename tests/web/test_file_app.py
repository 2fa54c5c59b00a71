"""Video file mode in Chromium against the real service: a WebM uploaded once, a click on frame 10, Track both ways,
a correction on frame 20 re-tracked from there; the timeline and the exports equal what the API answers, at the
source's frame numbers and size. A Track stopped mid-way, a removed object and a file the server cannot decode
leave the session usable."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from tests.waiting import wait_until

from .helpers import canvas_rgba, click, decode, save_screenshot
from .media import write_webm

STAGE = "#file-prompts"
FRAMES, FPS, WIDTH, HEIGHT = 24, 8, 256, 192  # small: the whole file tracks twice in seconds on 2 CPUs
FILE = "window.sam2refiner.file"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_webm(tmp_path_factory.mktemp("file") / "square.webm", FRAMES, FPS, WIDTH, HEIGHT)


def wait_for(page, condition: str, timeout_ms: int = 120_000, **options) -> None:
    """Until `condition` (JavaScript) holds; a failure says what the page said."""
    try:
        page.wait_for_function(condition, timeout=timeout_ms, **options)
    except Exception as e:
        said = page.evaluate(
            "[document.getElementById('file-status').textContent, document.getElementById('message-text').textContent]"
        )
        raise AssertionError(f"{condition}: not reached; (status, message) = {said}") from e


def wait_idle(page) -> None:
    """Until no prompt, Track or upload is pending."""
    wait_for(page, f"{FILE}.state && !{FILE}.tracking && {FILE}.pending === 0 && {FILE}.upload === null")


def prompt(page, x: float, y: float, button: str = "left") -> dict:
    """A click on the stage at image pixel (x, y); the API's answer to the prompt it sent."""
    with page.expect_response(lambda r: r.url.endswith("/prompts")) as response:
        click(page, STAGE, x, y, button=button)
    wait_idle(page)
    assert response.value.status == 200, response.value.text()
    return response.value.json()


def track(page, start) -> tuple[dict, list[dict]]:
    """Runs `start` (which starts a Track) to the Track's end: the request the page sent and the lines it got."""
    with page.expect_response(lambda r: r.url.endswith("/propagate"), timeout=120_000) as response:
        start()
    wait_idle(page)
    lines = [json.loads(x) for x in response.value.text().splitlines() if x.strip()]
    return response.value.request.post_data_json, lines


def download(page, button: str) -> Path:
    with page.expect_download(timeout=120_000) as started:
        page.click(button)
    return Path(started.value.path())


def show(page, frame: int) -> None:
    """Frame `frame` on screen, picked on the timeline (the middle of its cell)."""
    box = page.locator("#file-timeline").bounding_box()
    page.mouse.click(box["x"] + (frame + 0.5) * box["width"] / FRAMES, box["y"] + box["height"] / 2)
    wait_for(page, f"{FILE}.state.current === {frame}")


def overlay_equals(page, objects: list[dict]) -> bool:
    shown = canvas_rgba(page, "#file-overlay")[..., 3] > 0
    expected = np.zeros((HEIGHT, WIDTH), bool)
    for o in objects:
        if o["visible"]:
            expected |= decode(o["rle"])
    return bool(np.array_equal(shown, expected))


def timeline_rows(page) -> list[list[bool]]:
    """Per frame, per object row: whether the timeline shows the object's colour there (read from the canvas)."""
    rgba = canvas_rgba(page, "#file-timeline")
    colors = page.evaluate(f"[...{FILE}.state.objects.values()].map((o) => o.color)")
    h, w = rgba.shape[:2]
    row_h = max(3, (h - 8) / len(colors))
    return [
        [
            bool(np.array_equal(rgba[int(4 + (r + 0.5) * row_h), int((f + 0.25) * w / FRAMES), :3], c))
            for r, c in enumerate(colors)
        ]
        for f in range(FRAMES)
    ]


def api_masks(api: str, video_id: str) -> dict[int, dict[int, dict]]:
    """{frame: {object_id: mask}} as the API stores them (GET /videos/{id}/masks/{k})."""
    out = {}
    for k in range(FRAMES):
        r = httpx.get(f"{api}/videos/{video_id}/masks/{k}", timeout=30)
        assert r.status_code == 200, r.text
        out[k] = {o["object_id"]: o for o in r.json()["objects"]}
    return out


def test_file_mode_tracks_both_ways_takes_a_correction_and_exports_the_apis_masks(page, web_server, clip, tmp_path):
    api = web_server["api"]
    video_id = open_clip(page, clip)
    info = httpx.get(f"{api}/videos/{video_id}", timeout=30).json()
    assert (info["frames"], info["width"], info["height"]) == (FRAMES, WIDTH, HEIGHT)
    assert page.locator("#file-session").inner_text() == video_id

    # The first frame is the server's JPEG of source frame 0, drawn at the source's size.
    jpeg = httpx.get(f"{api}/videos/{video_id}/frames/0", timeout=30).content
    served = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), np.int16)
    drawn = canvas_rgba(page, "#file-canvas")[..., :3].astype(np.int16)
    assert drawn.shape == served.shape == (HEIGHT, WIDTH, 3)
    assert np.abs(drawn - served).mean() < 2  # two JPEG decoders: off by a grey level here and there

    # Scrub (timeline, then arrow keys) to frame 10 and click the square there: the answer shows at once.
    show(page, 8)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_for(page, f"{FILE}.state.current === 10")
    first = prompt(page, 20 + 4 * 10 + 20, 60)  # the square's middle on frame 10 (media.scene)
    assert first["frame"] == 10 and [o["object_id"] for o in first["objects"]] == [1]
    assert overlay_equals(page, first["objects"])

    # Track both ways: the progress bar runs while the lines arrive, the timeline fills.
    def track_with_progress():
        page.keyboard.press("t")
        wait_for(
            page,
            f"{FILE}.tracking && {FILE}.state.progress?.done > 0 && !document.getElementById('file-progress').hidden",
            polling="raf",
        )

    request, lines = track(page, track_with_progress)
    assert request == {"start_frame": 10, "direction": "both", "end_frame": None}
    assert lines[-1] == {"finished": True, "frames": lines[-2]["done"]}
    assert sorted({x["frame"] for x in lines[:-1]}) == list(range(FRAMES))
    assert page.locator("#file-progress").is_hidden()
    stored = api_masks(api, video_id)
    for k in range(FRAMES):  # the page's masks are the API's, frame by frame
        assert page.evaluate(f"{FILE}.state.objectsAt({k})") == list(stored[k].values()), k
    assert timeline_rows(page) == [[stored[k][1]["visible"]] for k in range(FRAMES)]
    assert page.locator("#file-timeline").get_attribute("data-tracked") == str(FRAMES)
    # Both ways from frame 10, both of sam2's passes give frame 10: the page counts it once.
    assert page.locator("#file-status").inner_text().startswith(f"Tracked {FRAMES} frames both ways from frame 10:")

    # A correction on frame 20 (a negative click on the bar, a new second object on the square), then Track again.
    show(page, 20)
    correction = prompt(page, 80, 100, button="right")
    page.keyboard.press("n")
    added = prompt(page, 20 + 4 * 20 + 20, 60)
    assert correction["frame"] == added["frame"] == 20
    assert [o["object_id"] for o in added["objects"]] == [1, 2]
    assert overlay_equals(page, added["objects"])
    assert page.locator("#file-timeline").get_attribute("data-stale") == str(FRAMES - 1)  # all but frame 20
    request, lines = track(page, lambda: page.click("#file-track"))
    assert request == {"start_frame": 20, "direction": "both", "end_frame": None}
    assert lines[-1]["finished"] and sorted({x["frame"] for x in lines[:-1]}) == list(range(FRAMES))
    stored = api_masks(api, video_id)
    for k in range(FRAMES):
        assert page.evaluate(f"{FILE}.state.objectsAt({k})") == list(stored[k].values()), k
    assert timeline_rows(page) == [[stored[k][i]["visible"] for i in (1, 2)] for k in range(FRAMES)]
    assert page.locator("#file-timeline").get_attribute("data-stale") == "0"
    show(page, 20)
    assert overlay_equals(page, list(stored[20].values()))
    save_screenshot(page, "file-mode.png", tmp_path)

    # Playback runs to the last frame.
    page.keyboard.press("Home")
    wait_for(page, f"{FILE}.state.current === 0")
    page.keyboard.press(" ")
    wait_for(page, f"{FILE}.state.current === {FRAMES - 1} && !{FILE}.playing")

    # The exports are the API's: the page downloads what GET /videos/{id}/export answers, which holds the stored
    # masks at the source's frame numbers, timestamps and size.
    present = {(k, i) for k in range(FRAMES) for i, o in stored[k].items() if decode(o["rle"]).any()}
    coco = json.loads(download(page, "#file-export-coco").read_bytes())
    assert coco == httpx.get(f"{api}/videos/{video_id}/export", params={"format": "coco"}, timeout=60).json()
    assert [(im["frame_id"], im["width"], im["height"]) for im in coco["images"]] == [
        (k, WIDTH, HEIGHT) for k in range(FRAMES)
    ]
    assert [im["timestamp"] for im in coco["images"]] == info["timestamps"]
    assert {(a["frame_id"], a["track_id"]) for a in coco["annotations"]} == present
    for a in coco["annotations"]:
        assert np.array_equal(decode(a["segmentation"]), decode(stored[a["frame_id"]][a["track_id"]]["rle"]))

    with zipfile.ZipFile(download(page, "#file-export-zip")) as z:
        assert set(z.namelist()) == {f"{i}/{k:06d}.png" for k, i in present} | {"frames.json"}
        for k, i in present:
            png = np.asarray(Image.open(z.open(f"{i}/{k:06d}.png")))
            assert png.shape == (HEIGHT, WIDTH) and np.array_equal(png == 255, decode(stored[k][i]["rle"]))

    with av.open(str(download(page, "#file-export-mp4"))) as mp4:
        frames = list(mp4.decode(video=0))
    assert len(frames) == FRAMES and {(f.width, f.height) for f in frames} == {(WIDTH, HEIGHT)}

    # A reload reopens the same session with its objects and prompts, and reads every stored mask back.
    prompts = page.evaluate(f"{FILE}.state.toDraft().clickSets")
    page.evaluate(f"{FILE}.drafts.flush()")
    page.reload()
    page.click("#tab-file")
    page.evaluate(f"{FILE}.restored")
    wait_idle(page)
    assert page.evaluate(f"{FILE}.session.id") == video_id
    assert page.evaluate(f"{FILE}.state.toDraft().clickSets") == prompts
    assert "Restored square.webm" in page.locator("#file-status").inner_text()
    for k in range(FRAMES):
        assert page.evaluate(f"{FILE}.state.objectsAt({k})") == list(stored[k].values()), k
    assert timeline_rows(page) == [[stored[k][i]["visible"] for i in (1, 2)] for k in range(FRAMES)]


def open_clip(page, clip) -> str:
    page.click("#tab-file")
    page.set_input_files("#file-input", str(clip))
    wait_for(page, f"{FILE}.state?.current === 0 && {FILE}.upload === null")
    return page.evaluate(f"{FILE}.state.video.video_id")


def test_a_stopped_track_keeps_its_frames_a_removal_and_a_corrupt_file_leave_the_session_usable(
    page, web_server, clip, tmp_path
):
    api = web_server["api"]
    video_id = open_clip(page, clip)
    prompt(page, 40, 60)  # the square on frame 0
    page.keyboard.press("n")
    prompt(page, 80, 100)  # the bar

    # Esc while the lines arrive closes the stream: the server stops, the frames that came stay, Track goes on.
    page.keyboard.press("t")
    wait_for(page, f"{FILE}.state.progress?.done >= 2", polling="raf")
    page.keyboard.press("Escape")
    wait_idle(page)
    assert "Tracking stopped" in page.locator("#file-status").inner_text()
    kept = page.evaluate(f"{FILE}.state.trackedCount")
    assert 2 <= kept < FRAMES
    assert f"Tracking stopped after {kept} frames" in page.locator("#file-status").inner_text()
    wait_until(
        lambda: not httpx.get(f"{api}/videos/{video_id}", timeout=30).json()["propagating"],
        60,
        "the server to stop the propagation",
    )
    # A direction chosen in the select gives the keyboard back: the next T is the page's, not the select's.
    page.focus("#file-direction")
    assert page.evaluate("document.activeElement.id") == "file-direction"
    page.select_option("#file-direction", "forward")
    assert page.evaluate("document.activeElement.id") != "file-direction"
    request, lines = track(page, lambda: page.keyboard.press("t"))
    assert request["direction"] == "forward" and page.locator("#file-direction").input_value() == "forward"
    assert request["start_frame"] == 0 and lines[-1]["finished"]  # the stopped Track's prompts were still pending
    assert page.evaluate(f"{FILE}.state.trackedCount") == FRAMES

    # Removing object 2 removes it on the server and from every frame here.
    page.click("#file-objects li[data-obj-id='2'] button[aria-label^='delete']")
    wait_idle(page)
    assert httpx.get(f"{api}/videos/{video_id}", timeout=30).json()["objects"] == [1]
    assert page.evaluate(f"[...{FILE}.state.masks.values()].every((m) => !m.has(2))")
    assert all(len(row) == 1 for row in timeline_rows(page))

    # A session the server lost (deleted here, as its TTL would) is made again from the file by the next click:
    # the click sets replayed, then the click.
    assert httpx.delete(f"{api}/videos/{video_id}", timeout=30).status_code == 204
    click(page, STAGE, 80, 100)  # no object selected since the removal: a new one
    wait_for(page, f"{FILE}.session.id !== '{video_id}' && {FILE}.pending === 0")
    assert "made again" in page.locator("#file-status").inner_text()
    assert httpx.get(f"{api}/videos/{video_id}", timeout=30).status_code == 404
    video_id = page.evaluate(f"{FILE}.session.id")
    assert page.locator("#file-session").inner_text() == video_id
    assert httpx.get(f"{api}/videos/{video_id}", timeout=30).json()["objects"] == [1, 2]
    shown = page.evaluate(f"{FILE}.state.current")
    stored = httpx.get(f"{api}/videos/{video_id}/masks/{shown}", timeout=30).json()["objects"]
    assert page.evaluate(f"{FILE}.state.objectsAt({shown})") == stored

    # A file the server cannot decode: a message, and the session and page stay as they were.
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    page.set_input_files("#file-input", str(broken))
    wait_for(page, "!document.getElementById('message').hidden")
    wait_idle(page)
    assert "broken.mp4 was not opened" in page.locator("#file-status").inner_text()
    assert page.locator("#message-text").inner_text()  # the server's reason
    assert page.evaluate(f"{FILE}.state.video.video_id") == video_id
    assert httpx.get(f"{api}/videos/{video_id}", timeout=30).status_code == 200
    assert page.evaluate(f"{FILE}.state.trackedCount") == FRAMES
    prompt(page, 40, 60)  # still answers

    # Clear all: every prompt and mask gone, on the server and here; the objects stay listed.
    page.click("#file-reset")
    wait_idle(page)
    assert httpx.get(f"{api}/videos/{video_id}", timeout=30).json()["objects"] == []
    assert page.evaluate(f"[{FILE}.state.trackedCount, {FILE}.state.clickSets.size, {FILE}.state.objects.size]") == [
        0,
        0,
        2,
    ]
    assert page.locator("#file-timeline").get_attribute("data-tracked") == "0"
