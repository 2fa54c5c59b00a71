"""Image mode in Chromium against the real service: what the page draws and exports is what the API answers."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from .conftest import MAX_IMAGE_PIXELS
from .helpers import best_mask, canvas_rgba, click, decode, drag, final_part, replay_segment, save_screenshot

STAGE = "#image-prompts"
OVERLAY = "#image-overlay"


def segment_ok(r) -> bool:
    return r.url.endswith("/segment") and r.status == 200


def wait_idle(page) -> None:
    page.wait_for_function("window.sam2refiner.image.pending === 0")


def prompt_and_capture(page, action) -> tuple[dict, dict]:
    """Runs a click/drag and returns the page's /segment request body and the answer it got."""
    with page.expect_response(segment_ok) as response:
        action()
    wait_idle(page)
    return response.value.request.post_data_json, final_part(response.value)


def overlay_colors(page) -> np.ndarray:
    return canvas_rgba(page, OVERLAY)


def color_of(page, index: int) -> np.ndarray:
    return np.array(page.evaluate(f"window.sam2refiner.image.state.objects[{index}].color"))


def owned_by(rgba: np.ndarray, color: np.ndarray) -> np.ndarray:
    # Fill pixels are semi-transparent: un-premultiplying them can move a channel by one or two.
    return (rgba[..., 3] > 0) & (np.abs(rgba[..., :3].astype(int) - color).max(-1) <= 3)


def open_image(page, tmp_path, pixels: np.ndarray, name: str = "photo.png"):
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    page.set_input_files("#image-file", str(path))
    page.wait_for_function(
        f"window.sam2refiner.image.state.image && window.sam2refiner.image.state.image.name === '{name}'"
    )
    return path


def test_banner_says_random_weights_in_red(page):
    warning = page.locator("#random-warning")
    assert warning.is_visible() and "RANDOM WEIGHTS" in warning.inner_text()
    assert warning.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(176, 0, 32)"
    banner = page.locator("#model-banner").inner_text()
    assert "hiera_t" in banner and "256" in banner and "cpu" in banner


def test_clicks_boxes_objects_refine_and_exports_match_the_api(page, web_server, test_image, tmp_path):
    api = web_server["api"]
    open_image(page, tmp_path, test_image)
    h, w = test_image.shape[:2]
    # SAM 2's own masks first (R: refine off): the random refiner paints nearly everything, SAM 2 does not.
    page.keyboard.press("r")

    # A click: the page uploads the image and draws exactly the mask the API gives for the same request.
    body, answer = prompt_and_capture(page, lambda: click(page, STAGE, 130, 150))
    obj = body["objects"][0]
    assert "image" in body and "image_id" not in body and body["refine"] is False
    assert obj["labels"] == [1] and np.allclose(obj["points"], [[130.5, 150.5]], atol=0.6)
    first = best_mask(replay_segment(api, body))
    assert np.array_equal(best_mask(answer), first)
    assert np.array_equal(overlay_colors(page)[..., 3] > 0, first)

    # A negative click corrects the object: same image by id, both points, the last mask's logits as prompt.
    body, _ = prompt_and_capture(page, lambda: click(page, STAGE, 300, 60, button="right"))
    obj = body["objects"][0]
    assert "image_id" in body and "image" not in body
    assert obj["labels"] == [1, 0]
    assert obj["mask_logits_id"] == page.evaluate("window.sam2refiner.image.state.objects[0].history[1].logitsId")
    corrected = best_mask(replay_segment(api, body))
    assert np.array_equal(overlay_colors(page)[..., 3] > 0, corrected)

    # A box (drag) joins the click set.
    body, _ = prompt_and_capture(page, lambda: drag(page, STAGE, 60, 80, 200, 220))
    assert np.allclose(body["objects"][0]["box"], [60.5, 80.5, 200.5, 220.5], atol=1.0)
    assert body["objects"][0]["labels"] == [1, 0]
    boxed = best_mask(replay_segment(api, body))
    assert np.array_equal(overlay_colors(page)[..., 3] > 0, boxed)
    assert 0 < boxed.sum() < h * w and not np.array_equal(first, boxed)

    # Undo and redo walk the object's history without asking the server.
    page.keyboard.press("z")
    assert np.array_equal(overlay_colors(page)[..., 3] > 0, corrected)
    page.keyboard.press("y")
    assert np.array_equal(overlay_colors(page)[..., 3] > 0, boxed)

    # A second object (N): its request carries only its own click.
    page.keyboard.press("n")
    body, _ = prompt_and_capture(page, lambda: click(page, STAGE, 300, 101))
    assert len(body["objects"]) == 1 and len(body["objects"][0]["points"]) == 1
    assert "mask_logits_id" not in body["objects"][0]
    second = best_mask(replay_segment(api, body))
    rgba = overlay_colors(page)
    assert np.array_equal(rgba[..., 3] > 0, boxed | second)
    assert np.array_equal(owned_by(rgba, color_of(page, 1)), second)  # drawn last, on top
    assert np.array_equal(owned_by(rgba, color_of(page, 0)), boxed & ~second)

    # Hide the second object (H): only the first is drawn.
    page.keyboard.press("h")
    assert np.array_equal(overlay_colors(page)[..., 3] > 0, boxed)
    page.keyboard.press("h")

    # Refine back on (R): the next click on the second object asks for refined masks, streamed when the server
    # streams (its NDJSON parts carry "stage"; the last one is the plain answer).
    page.keyboard.press("r")
    body, answer = prompt_and_capture(page, lambda: click(page, STAGE, 310, 101))
    streamed = "stage" in answer
    assert body["refine"] is True and body["objects"][0]["mask_logits_id"] and body.get("stream", False) is streamed
    refined = best_mask(replay_segment(api, body))
    assert np.array_equal(owned_by(overlay_colors(page), color_of(page, 1)), refined)

    # Compare (C): SAM 2's answer to the same prompts left of the swipe line, the refined one right of it. A
    # streamed answer brought SAM 2's part already; otherwise the page asks for it (refine false).
    asked = []
    page.on("request", lambda r: r.url.endswith("/segment") and asked.append(r.post_data_json))
    page.keyboard.press("c")
    page.wait_for_function("window.sam2refiner.image.state.selected.history.at(-1).sam2 !== null")
    wait_idle(page)
    if streamed:
        assert asked == [] and page.evaluate("window.sam2refiner.image.state.selected.history.at(-1).stream")
    else:
        assert len(asked) == 1 and asked[0]["refine"] is False and asked[0]["objects"] == body["objects"]
    sam2 = best_mask(replay_segment(api, {**body, "refine": False}))
    split = w // 2  # the swipe starts in the middle
    shown = owned_by(overlay_colors(page), color_of(page, 1))
    assert np.array_equal(shown[:, :split], sam2[:, :split]) and np.array_equal(shown[:, split:], refined[:, split:])
    assert "SAM 2" in page.locator("#image-scores").inner_text()
    save_screenshot(page, "image-mode.png", tmp_path)
    page.keyboard.press("c")

    # Exports: the selected object's mask PNG, its cut-out, and every object as COCO RLE.
    with page.expect_download() as download:
        page.click("#image-export-png")
    png = np.array(Image.open(download.value.path()))
    assert png.shape == (h, w) and set(np.unique(png)) <= {0, 255}
    assert np.array_equal(png == 255, refined)
    with page.expect_download() as download:
        page.click("#image-export-cutout")
    cutout = np.array(Image.open(download.value.path()).convert("RGBA"))
    assert np.array_equal(cutout[..., 3] == 255, refined)
    assert np.array_equal(cutout[refined][:, :3], test_image[refined])
    with page.expect_download() as download:
        page.click("#image-export-coco")
    coco = json.loads(open(download.value.path()).read())
    assert coco["images"][0]["width"] == w and coco["images"][0]["height"] == h
    masks = {a["id"]: decode(a["segmentation"]) for a in coco["annotations"]}
    assert np.array_equal(masks[1], boxed) and np.array_equal(masks[2], refined)
    assert coco["annotations"][0]["area"] == int(boxed.sum())


def test_unknown_image_id_makes_the_page_resend_the_image(page, test_image, tmp_path):
    open_image(page, tmp_path, test_image)
    prompt_and_capture(page, lambda: click(page, STAGE, 130, 150))
    page.evaluate("window.sam2refiner.image.state.image.imageId = 'img_' + '0'.repeat(32)")  # as if evicted
    statuses = []
    page.on("response", lambda r: r.url.endswith("/segment") and statuses.append(r.status))
    body, answer = prompt_and_capture(page, lambda: click(page, STAGE, 140, 150))
    assert 404 in statuses and "image" in body and answer["image_id"] != "img_" + "0" * 32
    assert page.locator("#message").is_hidden()


def test_an_image_over_the_pixel_limit_is_refused_when_it_opens_and_the_open_one_stays(page, test_image, tmp_path):
    open_image(page, tmp_path, test_image)
    requests = []
    page.on("request", lambda r: r.url.endswith("/segment") and requests.append(r))
    side = int(MAX_IMAGE_PIXELS**0.5) + 50
    Image.fromarray(np.full((side, side, 3), 128, np.uint8)).save(tmp_path / "big.png")
    page.set_input_files("#image-file", str(tmp_path / "big.png"))
    message = page.locator("#message")
    message.wait_for(state="visible")
    text = message.inner_text()
    assert f"{side} x {side}" in text and f"{MAX_IMAGE_PIXELS:,}" in text and "max_image_pixels" in text
    assert page.evaluate("window.sam2refiner.image.state.image.name") == "photo.png"
    assert page.locator("#image-prompts").get_attribute("data-image-width") == str(test_image.shape[1])
    assert not requests


def test_a_server_error_reaches_the_user(page, tmp_path):
    page.evaluate("window.sam2refiner.image.maxPixels = Infinity")  # a page that does not know the limit
    side = int(MAX_IMAGE_PIXELS**0.5) + 50
    open_image(page, tmp_path, np.full((side, side, 3), 128, np.uint8), name="big.png")
    click(page, STAGE, 10, 10)
    message = page.locator("#message")
    message.wait_for(state="visible")
    assert "size limit" in message.inner_text() and "pixel" in message.inner_text().lower()


def test_shortcuts_work_after_a_control_is_used_with_the_mouse_but_not_while_typing(page, test_image, tmp_path):
    open_image(page, tmp_path, test_image)
    refine = page.locator("#image-refine")
    before = refine.is_checked()
    refine.click()  # the mouse toggles it ...
    page.keyboard.press("r")  # ... and R toggles it back (the key is not swallowed by the focused checkbox)
    assert refine.is_checked() == before
    page.locator("#image-split").click()
    page.keyboard.press("n")
    assert page.evaluate("window.sam2refiner.image.state.objects.length") == 1
    page.locator("#tab-video").click()
    fps = page.locator("#video-fps")
    fps.fill("5")  # typing: the digits and letters are the field's
    fps.press("i")
    assert page.locator("#video-mode").is_visible()
    fps.press("Enter")  # committed: the keyboard is the page's again
    page.keyboard.press("i")
    assert page.locator("#image-mode").is_visible()
    assert page.evaluate("document.getElementById('video-fps').value") == "5"


DATA_TRANSFER = """async ([b64, kind, target]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], `${kind}.png`, { type: "image/png" }));
  const event = kind === "pasted" ? new ClipboardEvent("paste", { clipboardData: data, bubbles: true })
                                  : new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
  document.querySelector(target).dispatchEvent(event);
}"""


def test_paste_and_drop_open_an_image(page, test_image):
    buf = io.BytesIO()
    Image.fromarray(test_image[:100, :120]).save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    page.evaluate(DATA_TRANSFER, [b64, "pasted", "body"])
    page.wait_for_function("window.sam2refiner.image.state.image?.name === 'pasted.png'")
    page.evaluate(DATA_TRANSFER, [b64, "dropped", "#image-stage"])
    page.wait_for_function("window.sam2refiner.image.state.image?.name === 'dropped.png'")
    assert page.evaluate(
        "[window.sam2refiner.image.state.image.width, window.sam2refiner.image.state.image.height]"
    ) == [120, 100]
    page.keyboard.press("n")  # an object, renamed in the list
    name = page.locator("#image-objects input[aria-label='name of object 1']")
    name.fill("cat")
    name.press("Enter")
    assert page.evaluate("window.sam2refiner.image.state.objects[0].name") == "cat"


OBJECTS = """() => window.sam2refiner.image.state.objects.map((o) => {
  const c = o.history[o.at];
  return [o.id, o.name, o.at, o.history.length, c.points, c.labels, c.box, c.mask && c.mask.reduce((a, b) => a + b, 0)];
})"""


def test_work_survives_a_reload_clear_all_is_undone_and_replacing_asks_first(page, test_image, tmp_path):
    open_image(page, tmp_path, test_image)
    prompt_and_capture(page, lambda: click(page, STAGE, 130, 150))
    prompt_and_capture(page, lambda: click(page, STAGE, 40, 40, button="right"))
    page.keyboard.press("n")
    prompt_and_capture(page, lambda: drag(page, STAGE, 20, 20, 90, 80))
    page.keyboard.press("z")  # an undone state is kept too (redo after the reload)
    before, overlay = page.evaluate(OBJECTS), overlay_colors(page)
    assert len(before) == 2 and before[0][3] == 3 and before[1][2] == 0
    page.evaluate("window.sam2refiner.image.drafts.flush()")

    page.reload()
    page.wait_for_function("window.sam2refiner.image.state.image?.name === 'photo.png'")
    assert page.evaluate(OBJECTS) == before
    assert (overlay_colors(page) == overlay).all()
    assert "Restored photo.png and its 2 objects" in page.locator("#image-status").inner_text()
    page.keyboard.press("y")
    assert page.evaluate(OBJECTS)[1][2] == 1

    page.locator("#image-clear").click()
    assert page.evaluate(OBJECTS) == [] and not overlay_colors(page)[..., 3].any()
    page.keyboard.press("z")
    after_undo = page.evaluate(OBJECTS)
    assert [o[:2] for o in after_undo] == [o[:2] for o in before] and after_undo[0] == before[0]

    other = tmp_path / "other.png"
    Image.fromarray(test_image[::-1].copy()).save(other)
    with page.expect_event("dialog") as asked:
        page.set_input_files("#image-file", str(other))
    assert "photo.png" in asked.value.message and "exported" in asked.value.message
    asked.value.dismiss()  # keeps the work
    page.evaluate("window.sam2refiner.image.opening")
    assert page.evaluate("window.sam2refiner.image.state.image.name") == "photo.png"
    assert len(page.evaluate(OBJECTS)) == 2
    with page.expect_download():
        page.locator("#image-export-coco").click()  # exported: replacing no longer asks
    page.set_input_files("#image-file", [])
    page.set_input_files("#image-file", str(other))
    page.wait_for_function("window.sam2refiner.image.state.image?.name === 'other.png'")
    assert page.evaluate(OBJECTS) == []


def scene(width: int, height: int) -> np.ndarray:
    """A picture of any shape: a sky-to-ground gradient, a sun, a tower and a long wall (something to click)."""
    yy, xx = np.mgrid[:height, :width]
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = 40 + 80 * yy // height
    img[..., 1] = 70 + 60 * yy // height
    img[..., 2] = 150 - 90 * yy // height
    r = min(width, height) // 8
    img[(yy - height // 5) ** 2 + (xx - width // 4) ** 2 < r**2] = (250, 210, 60)
    img[height // 3 :, width * 6 // 10 : width * 6 // 10 + max(8, width // 10)] = (200, 70, 60)
    img[height * 8 // 10 : height * 9 // 10, width // 20 : width * 19 // 20] = (90, 90, 100)
    return img


@pytest.mark.parametrize(("name", "width", "height"), [("image-portrait.png", 270, 640), ("image-wide.png", 880, 200)])
def test_portrait_and_wide_pictures_are_shown_whole_and_clicks_land_on_their_pixels(
    page, web_server, tmp_path, name, width, height
):
    """The service's own masks on pictures of other shapes than the test image (the geometry test covers the
    sizes and screens; this one the real requests and masks)."""
    open_image(page, tmp_path, scene(width, height), name=f"{width}x{height}.png")
    page.keyboard.press("r")  # SAM 2's masks: the random refiner paints nearly everything
    box = page.locator(STAGE).bounding_box()
    assert abs(box["width"] / box["height"] - width / height) < 2 / min(box["width"], box["height"]) * (width / height)
    tower = (width * 6 // 10 + max(8, width // 10) // 2, height * 2 // 3)
    body, answer = prompt_and_capture(page, lambda: click(page, STAGE, *tower))
    sent = body["objects"][0]["points"][0]
    assert abs(sent[0] - tower[0] - 0.5) <= max(1.0, width / box["width"]) and abs(sent[1] - tower[1] - 0.5) <= max(
        1.0, height / box["height"]
    )
    page.keyboard.press("n")
    wall = (width // 20, height * 8 // 10, width * 19 // 20, height * 9 // 10)
    wall_body, _ = prompt_and_capture(page, lambda: drag(page, STAGE, *wall))
    first, second = (best_mask(replay_segment(web_server["api"], b)) for b in (body, wall_body))
    rgba = overlay_colors(page)
    assert rgba.shape[:2] == (height, width)
    assert np.array_equal(owned_by(rgba, color_of(page, 1)), second)  # drawn last, on top
    assert np.array_equal(owned_by(rgba, color_of(page, 0)), first & ~second)
    save_screenshot(page, name, tmp_path)
