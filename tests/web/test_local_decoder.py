"""The page decodes clicks itself (SAM 2's decoder exported by the server, onnxruntime-web in a worker), at 1024.

The page is cross-origin isolated (onnxruntime-web may use threads); its masks equal the server's refine:false
masks click by click; after an image's first click, clicks with refine off send no request; with refine on the
local mask is shown at once and the server's refined mask replaces it; without WebAssembly, or when the server
cannot export the decoder, the page decodes on the server and says so.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.service.processes import running_service
from tests.tiers import tier
from tests.waiting import wait_until

from .helpers import best_mask, canvas_rgba, click, decode, drag, final_part, replay_segment, service_settings

STAGE = "#image-prompts"
NOTE = "#image-decoder-note"
H, W = 720, 960  # not square: prompts and masks are scaled differently along each axis
IOU_BOUND = 0.99

# Five click sets and a box, in image pixels: (x, y, label) each; a box is (x0, y0, x1, y1).
CLICK_SETS = [
    [(480, 360, 1)],
    [(300, 250, 1), (620, 420, 1)],
    [(480, 360, 1), (150, 100, 0), (700, 500, 1)],
    [(200, 600, 1), (250, 580, 1), (800, 150, 0), (600, 300, 1), (90, 90, 0)],
    [(700, 200, 0), (720, 220, 1)],
]
BOX = (260, 180, 700, 560)


@pytest.fixture(scope="module")
@tier("service")
def local_server(tmp_path_factory):
    with running_service(
        tmp_path_factory.mktemp("local-decoder"),
        **service_settings(
            image_size="1024",
            warmup="false",  # a warm-up at 1024 with the refiner's quadrants takes minutes on a busy CPU
            decoder_cache_dir=str(tmp_path_factory.mktemp("onnx")),
        ),
    ) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    rng = np.random.default_rng(18)
    pixels = rng.integers(0, 90, (H, W, 3), dtype=np.uint8)
    pixels[150:550, 250:700] = (230, 120, 40)
    pixels[500:700, 100:400] = (40, 200, 220)
    path = tmp_path_factory.mktemp("pictures") / "local.png"
    Image.fromarray(pixels).save(path)
    return path


def _open(browser, url, picture, init_script=None):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("document.getElementById('model-banner').textContent.includes('px')")
    page.wait_for_function(f"document.querySelector('{NOTE}').textContent !== ''", timeout=300_000)  # the export
    page.set_input_files("#image-file", str(picture))
    page.wait_for_function("window.sam2refiner.image.state.image !== null")
    return context, page, errors


def _wait_idle(page):
    page.wait_for_function("window.sam2refiner.image.pending === 0", timeout=300_000)


def _rle_mask(rle: dict) -> np.ndarray:
    """A state's RLE: the server's (compressed counts) or the page's encodeRle (counts as a list of column-major
    runs from zeros)."""
    if isinstance(rle["counts"], str):
        return decode(rle)
    h, w = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    return np.repeat(values, rle["counts"]).astype(bool).reshape(w, h).T


def _iou(a, b) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _history(page, index: int) -> list[dict]:
    """Object ``index``'s answered states: prompts, local or not, its mask's RLE."""
    return page.evaluate(
        """(i) => window.sam2refiner.image.state.objects[i].history.slice(1).map((s) => ({
             points: s.points, labels: s.labels, box: s.box, local: !!s.local, rle: s.rle }))""",
        index,
    )


def _server_chain(api, image_id, states) -> list[np.ndarray]:
    """The same click sets sent to /segment with refine off, each with the previous mask's logits, as the page
    sends them when it decodes on the server."""
    masks, logits_id = [], None
    for s in states:
        obj = {}
        if s["points"]:
            obj.update(points=s["points"], labels=s["labels"])
        if s["box"]:
            obj["box"] = s["box"]
        if logits_id:
            obj["mask_logits_id"] = logits_id
        multimask = len(s["points"]) == 1 and not s["box"] and not logits_id
        body = {"image_id": image_id, "objects": [obj], "refine": False, "multimask": multimask, "format": "rle"}
        answer = replay_segment(api, body)
        candidates = answer["objects"][0]["masks"]
        logits_id = max(candidates, key=lambda c: c["score"])["logits_id"]
        masks.append(best_mask(answer))
    return masks


def test_local_masks_equal_the_servers_and_need_no_request(browser, local_server, picture):
    context, page, errors = _open(browser, local_server, picture)
    try:
        assert "in this browser" in page.locator(NOTE).text_content()
        # cross-origin isolated (the service's COOP/COEP headers), so onnxruntime-web may use threads: half the cores
        cores = page.evaluate("crossOriginIsolated ? navigator.hardwareConcurrency : 0")
        threads = min(4, -(-cores // 2))
        assert f"{threads} thread{'' if threads == 1 else 's'})" in page.locator(NOTE).text_content()
        page.keyboard.press("r")  # refine off: SAM 2's masks
        assert not page.is_checked("#image-refine")

        # The first click: the server encodes the image (and answers it); its features come once.
        sent: list[str] = []  # the paths the page asks for, an image id cut off
        page.on("request", lambda r: sent.append(r.url.split("/", 3)[-1].split("/img_")[0]))
        x, y, label = CLICK_SETS[0][0]
        click(page, STAGE, x, y)
        _wait_idle(page)
        page.evaluate("(m => m.segmenter.local.loadFeatures(m.state.image.imageId))(window.sam2refiner.image)")
        assert sorted(sent) == ["segment", "segment/features"], sent
        sent.clear()

        for n, clicks in enumerate(CLICK_SETS):
            if n:
                page.keyboard.press("n")
            for k, (x, y, label) in enumerate(clicks):
                if n == 0 and k == 0:
                    continue  # clicked above
                click(page, STAGE, x, y, button="left" if label else "right")
                _wait_idle(page)
        page.keyboard.press("n")
        drag(page, STAGE, *BOX)
        _wait_idle(page)
        assert sent == [], f"clicks decoded in the page sent {sent}"

        # Every mask of every object against the server's refine-off answer to the same chain of requests.
        image_id = page.evaluate("window.sam2refiner.image.state.image.imageId")
        ious = []
        for n in range(len(CLICK_SETS) + 1):
            states = _history(page, n)
            assert all(s["local"] for s in (states[1:] if n == 0 else states))  # all but the image's first click
            for state, server in zip(states, _server_chain(local_server, image_id, states)):
                ious.append(_iou(_rle_mask(state["rle"]), server))
        print(f"local vs server refine-off masks: {len(ious)} masks, worst IoU {min(ious):.5f}")
        assert min(ious) >= IOU_BOUND, ious
        shown = canvas_rgba(page, "#image-overlay")[..., 3] > 0  # the box object's mask is drawn (others too)
        assert shown[_rle_mask(_history(page, len(CLICK_SETS))[-1]["rle"])].all()
        assert not errors, errors
    finally:
        context.close()


def test_with_a_refiner_the_refined_mask_replaces_the_local_one(browser, local_server, picture):
    context, page, errors = _open(browser, local_server, picture)
    try:
        assert page.is_checked("#image-refine")
        click(page, STAGE, 480, 360)  # the first click: the server encodes the image
        _wait_idle(page)
        page.evaluate("(m => m.segmenter.local.loadFeatures(m.state.image.imageId))(window.sam2refiner.image)")

        held = []  # the next /segment is held until the local mask has been seen on the overlay
        page.route("**/segment", lambda route: held.append(route))
        click(page, STAGE, 300, 250)
        page.wait_for_function(
            "() => { const o = window.sam2refiner.image.state.objects[0]; return o.preview && o.preview.local; }"
        )
        local = _rle_mask(page.evaluate("window.sam2refiner.image.state.objects[0].preview.rle"))
        assert np.array_equal(canvas_rgba(page, "#image-overlay")[..., 3] > 0, local)  # shown before any answer
        wait_until(lambda: page.evaluate("0") == 0 and held, 60, "the held /segment request")  # evaluate pumps events
        assert len(held) == 1 and held[0].request.post_data_json["refine"] is True
        with page.expect_response(lambda r: r.url.endswith("/segment")) as response:
            held[0].continue_()
        _wait_idle(page)
        refined = best_mask(final_part(response.value))
        state = page.evaluate("""(() => { const s = window.sam2refiner.image.state.objects[0].history.at(-1);
                                   return { refined: s.refined, sam2Local: !!(s.sam2 && s.sam2.local) }; })()""")
        assert state == {"refined": True, "sam2Local": True}
        assert not np.array_equal(refined, local)  # random refiner weights change the mask
        assert np.array_equal(canvas_rgba(page, "#image-overlay")[..., 3] > 0, refined)
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize(
    ("init_script", "reason"),
    [
        ("delete globalThis.WebAssembly;", "no WebAssembly"),
        (None, "could not be exported"),
    ],
    ids=["no-wasm", "export-failed"],
)
def test_without_the_local_decoder_the_server_decodes_and_the_page_says_so(
    browser, local_server, picture, init_script, reason
):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    if init_script:
        context.add_init_script(init_script)
    else:  # the server's answer when its export failed (tests/service/image/test_browser_decoder.py makes it fail)
        context.route(
            "**/segment/decoder",
            lambda route: route.fulfill(
                status=503,
                json={
                    "error": {
                        "code": "decoder_unavailable",
                        "field": None,
                        "message": "SAM 2's decoder could not be exported for the browser (RuntimeError)",
                    }
                },
            ),
        )
    page = context.new_page()
    try:
        page.goto(local_server)
        page.wait_for_function(f"document.querySelector('{NOTE}').textContent !== ''", timeout=300_000)
        note = page.locator(NOTE).text_content()
        assert "decoded on the server" in note and reason in note, note
        page.set_input_files("#image-file", str(picture))
        page.wait_for_function("window.sam2refiner.image.state.image !== null")
        page.keyboard.press("r")
        for x, y in [(480, 360), (300, 250)]:
            with page.expect_response(lambda r: r.url.endswith("/segment") and r.status == 200):
                click(page, STAGE, x, y)
            _wait_idle(page)
    finally:
        context.close()
