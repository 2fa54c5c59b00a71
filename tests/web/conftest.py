"""The web app in a real browser: Debian's chromium driven by Playwright (never a downloaded browser) against a
real uvicorn service on a port (hiera_t at 256, random weights with a random refiner), behind a proxy whose
connections a test can cut."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.service.processes import running_service
from tests.tiers import tier

from .helpers import service_settings
from .media import write_y4m
from .proxy import CuttableProxy

MAX_IMAGE_PIXELS = 200_000  # small, so an oversized image is a real server error the page must show


# package scope: the service and the browser stop when tests/web is done, not at the end of the whole run
@pytest.fixture(scope="package")
@tier("service")
def web_server(tmp_path_factory, video_checkpoint):
    # The video checkpoint is random too, with its object-score head biased to "present" so that tracked masks
    # are not all empty; the refiner runs on random weights, asked for explicitly.
    with running_service(
        tmp_path_factory.mktemp("web"),
        **service_settings(
            image_size="256",
            sam2_checkpoint=video_checkpoint,
            max_image_pixels=str(MAX_IMAGE_PIXELS),
            # These tests follow the server's decoding (a request per click); test_local_decoder.py has its own
            # service whose clicks the page decodes itself.
            browser_decoder="false",
        ),
    ) as (url, log_path):
        proxy = CuttableProxy(int(url.rsplit(":", 1)[1]))
        try:
            yield {"api": url, "page": f"http://127.0.0.1:{proxy.port}/", "proxy": proxy, "log": log_path}
        finally:
            proxy.close()


@pytest.fixture(scope="package")
@tier("browser")
def browser(tmp_path_factory):
    chromium = shutil.which("chromium")
    if chromium is None:
        # .ci/run installs it and sets SAM2REFINER_REQUIRE_BROWSER: there a missing browser fails, never skips.
        if os.environ.get("SAM2REFINER_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not on PATH")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    from playwright import sync_api

    camera = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", frames=20)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={camera}",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, web_server):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.grant_permissions(["camera"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(web_server["page"])
    page.wait_for_function("document.getElementById('model-banner').textContent.includes('px')")
    yield page
    context.close()
    assert not errors, errors
