"""Video mode in Chromium against the real service: a WebM file, the fake camera, a cut socket, backward tracking,
exports that equal the WebSocket replies."""

from __future__ import annotations

import json
import re
import zipfile
from contextlib import ExitStack

import numpy as np
import pytest
from PIL import Image

from tests.service.processes import running_service

from .helpers import canvas_rgba, click, decode, save_screenshot, service_settings
from .media import write_webm
from .proxy import CuttableProxy

STAGE = "#video-prompts"
FRAMES = 12
FPS = 5


class SocketLog:
    """Every WebSocket the page opens, with what it sent and received, in order."""

    def __init__(self, page):
        self.sockets: list[dict] = []
        page.on("websocket", self._opened)

    def _opened(self, ws) -> None:
        entry = {"url": ws.url, "events": []}
        self.sockets.append(entry)
        ws.on("framesent", lambda payload: entry["events"].append(("sent", payload)))
        ws.on("framereceived", lambda payload: entry["events"].append(("received", json.loads(payload))))

    def replies(self, i: int, kind: str | None = None) -> list[dict]:
        return [p for d, p in self.sockets[i]["events"] if d == "received" and (kind is None or p["type"] == kind)]

    def assert_one_in_flight(self, i: int) -> None:
        """Every message waits for the reply to the previous one."""
        outstanding = 0
        for direction, payload in self.sockets[i]["events"]:
            if direction == "sent" and isinstance(payload, str) and json.loads(payload)["type"] == "frame":
                continue  # a frame's header: the frame that follows it gets the one reply
            outstanding += 1 if direction == "sent" else -1
            assert outstanding in (0, 1), self.sockets[i]["events"]


@pytest.fixture(scope="module")
def webm(tmp_path_factory):
    return write_webm(tmp_path_factory.mktemp("video") / "square.webm", FRAMES, FPS)


def open_video(page, webm) -> None:
    page.click("#tab-video")
    page.fill("#video-fps", str(FPS))
    page.set_input_files("#video-file", str(webm))
    page.wait_for_function("document.getElementById('video-status').textContent.includes('Click on an object')")
    assert page.evaluate("window.sam2refiner.video.source.frameCount") == FRAMES


def live(page) -> int:
    return page.evaluate("window.sam2refiner.video.state.live")


def wait_live(page, frame: int, timeout_ms: int = 60_000) -> None:
    try:
        page.wait_for_function(
            f"window.sam2refiner.video.state.live === {frame} && !window.sam2refiner.video.playing"
            " && !window.sam2refiner.video.busy",
            timeout=timeout_ms,
        )
    except Exception as e:
        state = page.evaluate(
            "[window.sam2refiner.video.state.live, document.getElementById('video-status').textContent,"
            " document.getElementById('message-text').textContent]"
        )
        raise AssertionError(f"live frame {frame} not reached: (live, status, message) = {state}") from e


def wait_not_busy(page) -> None:
    page.wait_for_function("!window.sam2refiner.video.busy")


def download_json(page, button: str) -> dict:
    with page.expect_download() as download:
        page.click(button)
    return json.loads(open(download.value.path()).read())


def masks_by_frame(log: SocketLog, i: int, start: int = 0, step: int = 1) -> dict[int, dict[int, dict]]:
    """{local frame: {obj_id: reply object}} from one socket's replies: frame replies, then the prompt replies of
    the same frame on top (as the page merges them)."""
    out: dict[int, dict[int, dict]] = {}
    current = None
    for reply in log.replies(i):
        if reply["type"] == "frame":
            current = start + step * reply["frame_idx"]
            out[current] = {o["obj_id"]: o for o in reply["objects"]}
        elif reply["type"] == "masks":
            out[current].update({o["obj_id"]: o for o in reply["objects"]})
    return out


def test_file_tracks_frame_by_frame_objects_join_later_and_exports_equal_the_replies(page, webm, tmp_path):
    log = SocketLog(page)
    open_video(page, webm)
    click(page, STAGE, 40, 60)  # the square on frame 0: starts the session with object 1
    wait_live(page, 0)
    for _ in range(3):  # step (→) to frame 3, tracking each frame
        page.keyboard.press("ArrowRight")
        wait_not_busy(page)
    assert live(page) == 3
    page.keyboard.press("n")  # object 2 on frame 3: the bar
    click(page, STAGE, 80, 100)
    wait_not_busy(page)
    page.keyboard.press(" ")  # play to the end
    wait_live(page, FRAMES - 1)

    assert len(log.sockets) == 1
    log.assert_one_in_flight(0)
    frames = log.replies(0, "frame")
    assert [f["frame_idx"] for f in frames] == list(range(FRAMES))  # one reply per frame, in order
    sent = [p for d, p in log.sockets[0]["events"] if d == "sent"]
    assert json.loads(sent[0])["type"] == "start"
    assert json.loads(sent[1]) == {"type": "frame", "seq": 0} and sent[2][:2] == b"\xff\xd8"  # header, then JPEG
    for f in frames:  # each object is in the frame replies after its prompt's frame (whose reply is "masks")
        ids = {o["obj_id"] for o in f["objects"]}
        assert (1 in ids) == (f["frame_idx"] > 0) and (2 in ids) == (f["frame_idx"] > 3)
    prompt_replies = log.replies(0, "masks")
    assert [o["obj_id"] for o in prompt_replies[1]["objects"]] == [2] and prompt_replies[1]["frame_idx"] == 3
    assert any(o["area"] > 0 for f in frames for o in f["objects"])

    # The overlay shows the last frame's visible masks.
    last = {o["obj_id"]: o for o in frames[-1]["objects"]}
    shown = canvas_rgba(page, "#video-overlay")[..., 3] > 0
    expected = np.zeros_like(shown)
    for o in last.values():
        if o["visible"]:
            expected |= decode(o["mask"])
    assert np.array_equal(shown, expected)
    save_screenshot(page, "video-mode.png", tmp_path)

    # The JSON export is the replies, frame by frame and object by object.
    exported = download_json(page, "#video-export-json")
    replies = masks_by_frame(log, 0)
    assert [f["frame_idx"] for f in exported["frames"]] == list(range(FRAMES))
    for f in exported["frames"]:
        objects = {o["obj_id"]: o for o in f["objects"]}
        assert objects.keys() == replies[f["frame_idx"]].keys()
        for obj_id, o in objects.items():
            assert o.pop("direction") == "forward" and o == replies[f["frame_idx"]][obj_id]

    # The zip holds one PNG per frame and object, equal to the RLE masks, and the JSON.
    with page.expect_download() as download:
        page.click("#video-export-zip")
    with zipfile.ZipFile(download.value.path()) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert "masks.json" in names and len(names) == 1 + sum(len(f["objects"]) for f in exported["frames"])
        png = np.array(Image.open(z.open("frame_000005_obj_2.png")))
        assert np.array_equal(png == 255, decode(replies[5][2]["mask"]))

    # Removing an object tells the server and drops it from the page.
    page.click("#video-objects li[data-obj-id='2'] button[aria-label^='delete']")
    wait_not_busy(page)
    removed = log.replies(0)[-1]
    assert removed["type"] == "removed" and removed["obj_id"] == 2


def test_a_cut_socket_reconnects_and_resumes_the_session(page, webm, web_server):
    log = SocketLog(page)
    open_video(page, webm)
    click(page, STAGE, 40, 60)
    wait_live(page, 0)
    page.keyboard.press(" ")
    page.wait_for_function("window.sam2refiner.video.state.live >= 3")
    web_server["proxy"].cut()  # the TCP connection dies under the page mid-stream
    wait_live(page, FRAMES - 1)

    assert len(log.sockets) >= 2 and len({s["url"] for s in log.sockets}) == 1  # the same session id
    # (an attempt made while the server still finished the cut frame may have been told session_busy)
    again = next(i for i in range(1, len(log.sockets)) if log.replies(i, "started"))
    resumed = log.replies(again, "started")[0]
    assert resumed["frame_idx"] >= 3 and resumed["objects"] == [1]  # the server's state, not a new session
    # Every frame was applied once and answered once: a frame whose reply was cut off is resent with its seq and
    # answered from the server's store ("duplicate"), not tracked twice.
    replies = [f for i in range(len(log.sockets)) for f in log.replies(i, "frame")]
    assert sorted(f["frame_idx"] for f in replies) == list(range(FRAMES))
    assert sum(bool(f.get("duplicate")) for f in replies) <= 1
    assert all(1 in {o["obj_id"] for o in f["objects"]} for f in replies if f["frame_idx"] > 0)
    assert page.evaluate("window.sam2refiner.video.state.frames.size") == FRAMES


def test_backward_tracking_fills_the_frames_before_the_prompt(page, webm):
    log = SocketLog(page)
    open_video(page, webm)
    for _ in range(5):  # no session yet: → only shows the next frame
        page.keyboard.press("ArrowRight")
        wait_not_busy(page)
    click(page, STAGE, 60, 60)  # object 1 on frame 5 starts the session there
    wait_live(page, 5)
    page.keyboard.press(" ")
    wait_live(page, FRAMES - 1)
    page.keyboard.press("b")
    page.wait_for_function("document.getElementById('video-status').textContent.includes('Backward tracking done')")

    assert len(log.sockets) == 2 and log.sockets[1]["url"].endswith("-back")
    log.assert_one_in_flight(1)
    back = masks_by_frame(log, 1, start=5, step=-1)
    assert sorted(back) == list(range(6))
    exported = download_json(page, "#video-export-json")
    by_frame = {f["frame_idx"]: {o["obj_id"]: o for o in f["objects"]} for f in exported["frames"]}
    assert sorted(by_frame) == list(range(FRAMES))
    for frame in range(FRAMES):
        o = dict(by_frame[frame][1])
        assert o.pop("direction") == ("backward" if frame < 5 else "forward")
        if frame < 5:
            assert o == back[frame][1]
    assert exported["objects"] == [{"obj_id": 1, "name": "object 1", "first_frame": 5}]
    closed = log.replies(1)[-1]
    assert closed["type"] == "closed"  # the backward session is deleted when done


def test_camera_frames_go_at_the_servers_pace_and_take_prompts(page):
    log = SocketLog(page)
    page.click("#tab-video")
    page.click("#video-camera")
    page.wait_for_function("window.sam2refiner.video.state.live >= 2")
    click(page, STAGE, 60, 60)  # a click pauses the stream and prompts on the last frame sent
    page.wait_for_function("window.sam2refiner.video.state.objects.size === 1 && !window.sam2refiner.video.busy")
    prompted_at = live(page)
    page.keyboard.press(" ")
    page.wait_for_function(f"window.sam2refiner.video.state.live >= {prompted_at + 3}")
    page.keyboard.press(" ")
    page.wait_for_function("!window.sam2refiner.video.playing")

    log.assert_one_in_flight(0)
    frames = log.replies(0, "frame")
    assert [f["frame_idx"] for f in frames] == list(range(len(frames)))
    assert all(1 in {o["obj_id"] for o in f["objects"]} for f in frames if f["frame_idx"] > prompted_at)
    assert log.replies(0, "masks")[0]["frame_idx"] == prompted_at
    assert "frames/s" in page.locator("#video-fps-info").inner_text()
    # The fake camera runs at 10 frames/s, the service at a few: the frames shown meanwhile were dropped.
    dropped = re.search(r"camera frames dropped (\d+)", page.locator("#video-fps-info").inner_text())
    assert dropped and int(dropped.group(1)) > 0
    assert page.locator("#video-timings").inner_text().count("ms") >= 3


# A decode error under a seek, as Chrome reports one (an "error" event on the element, the seek never landing),
# from `second` seconds on: Chromium's decoders play the damaged files we can write here without a word.
BREAK_AFTER = """(second) => {
  const v = window.sam2refiner.video.source.video;
  const time = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, "currentTime");
  Object.defineProperty(v, "currentTime", {
    get() { return time.get.call(v); },
    set(t) { if (t > second) setTimeout(() => v.dispatchEvent(new Event("error"))); else time.set.call(v, t); },
  });
}"""


def test_a_file_that_cannot_be_decoded_or_breaks_midway_says_so_and_keeps_what_works(page, webm, tmp_path):
    open_video(page, webm)
    click(page, STAGE, 40, 60)
    wait_live(page, 0)
    session = page.locator("#video-session").inner_text()

    broken = tmp_path / "broken.webm"
    broken.write_bytes(b"\x1a\x45\xdf\xa3" + b"not a video" * 500)
    page.set_input_files("#video-file", str(broken))
    page.evaluate("window.sam2refiner.video.opening")
    assert "broken.webm" in page.locator("#message-text").inner_text() and page.locator("#message").is_visible()
    assert page.locator("#video-session").inner_text() == session  # the session is kept, and still tracks
    assert page.evaluate("window.sam2refiner.video.source.name") == "square.webm"
    page.locator("#video-step").click()
    wait_live(page, 1)

    page.evaluate(BREAK_AFTER, 0.8)  # frame 4 is at 0.9 s
    page.locator("#video-play").click()
    page.wait_for_function("!window.sam2refiner.video.playing")
    text = page.locator("#message-text").inner_text()
    assert "square.webm: frame 4 cannot be decoded" in text and "keep their masks" in text
    assert page.locator("#video-play").inner_text() == "Play" and live(page) == 3
    assert page.evaluate("[...window.sam2refiner.video.state.frames.keys()].sort()") == [0, 1, 2, 3]

    # Unsaved masks: opening another file asks first; no keeps everything, yes closes the session after the new
    # file decoded
    with page.expect_event("dialog") as asked:
        page.set_input_files("#video-file", str(webm))
    assert "square.webm" in asked.value.message and "exported" in asked.value.message
    asked.value.dismiss()
    page.evaluate("window.sam2refiner.video.opening")
    assert page.locator("#video-session").inner_text() == session and live(page) == 3
    page.once("dialog", lambda d: d.accept())
    page.set_input_files("#video-file", [])
    page.set_input_files("#video-file", str(webm))
    page.evaluate("window.sam2refiner.video.opening")
    assert page.evaluate("[window.sam2refiner.video.state.objects.size, window.sam2refiner.video.forward]") == [0, None]


def test_a_key_is_asked_for_and_a_session_lost_with_its_server_is_recreated(
    browser, web_server, video_checkpoint, webm, tmp_path
):
    """A service with an API key and no Redis: without the key the page says a key is needed (the refused
    handshake is a bare close in the browser); with it, tracking runs until the service stops and another one
    answers, which knows nothing of the session: the page re-creates it and tracking goes on."""
    port = lambda url: int(url.rsplit(":", 1)[1])  # noqa: E731
    first = ExitStack()
    url, _ = first.enter_context(
        running_service(
            tmp_path, **service_settings(image_size="256", sam2_checkpoint=video_checkpoint, api_key="s3cret")
        )
    )
    proxy = CuttableProxy(port(url))
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        log = SocketLog(page)
        page.goto(f"http://127.0.0.1:{proxy.port}/")
        page.locator("#message").wait_for(state="visible")  # the model info needs the key too
        page.locator("#message-dismiss").click()
        open_video(page, webm)
        click(page, STAGE, 40, 60)
        page.locator("#message").wait_for(state="visible")
        text = page.locator("#message-text").inner_text()
        assert "needs an API key" in text and "video socket was refused" in text and "cannot be reached" not in text

        page.fill("#api-key", "s3cret")
        page.press("#api-key", "Enter")
        click(page, STAGE, 40, 60)
        wait_live(page, 0)
        page.locator("#video-play").click()
        page.wait_for_function("window.sam2refiner.video.state.live >= 3")
        session = page.locator("#video-session").inner_text()
        proxy.retarget(port(web_server["api"]))
        first.close()  # the service stops, its in-process sessions with it (and the page's socket)
        wait_live(page, FRAMES - 1, timeout_ms=240_000)

        assert "re-created by replaying" in page.locator("#message-text").inner_text()
        assert page.locator("#video-session").inner_text() == session
        # On the second service: the session started empty, the frames from the prompt on were sent again with
        # the object's click set on frame 0, and the object is tracked on every frame to the end.
        second = max(i for i in range(len(log.sockets)) if log.replies(i, "started"))
        assert log.replies(second, "started")[0]["frame_idx"] == -1
        prompts = [
            json.loads(p)
            for d, p in log.sockets[second]["events"]
            if d == "sent" and isinstance(p, str) and json.loads(p)["type"] == "prompt"
        ]
        assert [(p["frame_idx"], [o["obj_id"] for o in p["objects"]]) for p in prompts] == [(0, [1])]
        frames = [r["frame_idx"] for r in log.replies(second, "frame")]
        assert frames == list(range(len(frames))) and len(frames) == FRAMES
        tracked = page.evaluate(
            f"[...Array({FRAMES}).keys()].map((f) => window.sam2refiner.video.state.objectsAt(f).map((o) => o.obj_id))"
        )
        assert all(ids == [1] for ids in tracked), tracked
    finally:
        context.close()
        proxy.close()
        first.close()


TRACKED = "[...window.sam2refiner.video.state.frames.keys()].sort().map((f) => [f, window.sam2refiner.video.state.objectsAt(f).map((o) => [o.obj_id, o.area])])"


def test_a_reload_reopens_the_video_with_its_masks_and_resumes_its_session(page, webm):
    log = SocketLog(page)
    open_video(page, webm)
    click(page, STAGE, 40, 60)
    wait_live(page, 0)
    page.locator("#video-step").click()
    wait_live(page, 1)
    session, before = page.locator("#video-session").inner_text(), page.evaluate(TRACKED)
    page.evaluate("Promise.all([window.sam2refiner.video.fileKept, window.sam2refiner.video.drafts.flush()])")

    page.reload()
    page.click("#tab-video")
    page.wait_for_function(
        "window.sam2refiner.video.source?.name === 'square.webm' && window.sam2refiner.video.forward"
        " && !window.sam2refiner.video.busy"
    )
    assert page.evaluate(TRACKED) == before and live(page) == 1
    assert page.locator("#video-session").inner_text() == session
    assert "Restored square.webm and its 1 object" in page.locator("#video-status").inner_text()
    resumed = log.replies(len(log.sockets) - 1, "started")[0]
    assert resumed["frame_idx"] == 1 and resumed["objects"] == [1]  # the server's session, resumed
    page.locator("#video-step").click()  # and tracking goes on in it
    wait_live(page, 2)
    assert log.replies(len(log.sockets) - 1, "frame")[-1]["frame_idx"] == 2
    assert 1 in [o[0] for o in page.evaluate(TRACKED)[2][1]]
