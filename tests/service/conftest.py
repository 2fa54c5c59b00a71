"""Fixtures of the image service tests: one app (hiera_t at 256, random weights) for the whole session, driven
through httpx's ASGITransport with its lifespan run, and small test images."""

from __future__ import annotations

import base64
import io
from contextlib import asynccontextmanager

import httpx
import numpy as np
import pytest
from anyio.from_thread import start_blocking_portal
from PIL import Image

from sam2refiner.service.app import create_app
from sam2refiner.service.core.settings import Settings
from tests.waiting import eventually

TEST_SETTINGS = dict(
    sam2_config="hiera_t",
    image_size=256,
    device="cpu",
    feature_cache_bytes=64 << 20,
    logits_cache_bytes=16 << 20,
    queue_size=2,
    max_body_bytes=2 << 20,
    max_image_pixels=1_000_000,
    max_objects=4,
    max_points=8,
    random_refiner=True,  # the refined path on random weights, as these tests have always exercised it
)


class AppClient:
    """A synchronous face on ``httpx.AsyncClient(transport=ASGITransport(app))`` with the app's lifespan run,
    all on one event loop in a helper thread (as a server would have)."""

    def __init__(self, app):
        self.app = app
        self._portal_cm = start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        self._session = self.portal.wrap_async_context_manager(self._running())
        self.http: httpx.AsyncClient = self._session.__enter__()

    @asynccontextmanager
    async def _running(self):
        async with self.app.router.lifespan_context(self.app):
            # warm-up runs in the background (a failed one leaves the runtime not ready: the deadline ends it)
            await eventually(lambda: self.app.state.runtime.ready, 600, "the warm-up")
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://service", timeout=300) as client:
                yield client

    def get(self, url: str, **kw) -> httpx.Response:
        return self.portal.call(lambda: self.http.get(url, **kw))

    def post(self, url: str, **kw) -> httpx.Response:
        return self.portal.call(lambda: self.http.post(url, **kw))

    @property
    def engine(self):
        return self.app.state.image_engine

    @property
    def runtime(self):
        return self.app.state.runtime

    def close(self) -> None:
        self._session.__exit__(None, None, None)
        self._portal_cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def service_settings(tmp_path_factory) -> Settings:
    return Settings(**TEST_SETTINGS, decoder_cache_dir=tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="session")
def api(service_settings) -> AppClient:
    client = AppClient(create_app(service_settings))
    yield client
    client.close()


def png_b64(pixels: np.ndarray, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode("ascii")


@pytest.fixture(scope="session")
def rgb_image() -> np.ndarray:
    """120 x 160 RGB with a bright rectangle on noise (masks of random weights are arbitrary anyway)."""
    rng = np.random.default_rng(7)
    img = rng.integers(0, 80, (120, 160, 3), dtype=np.uint8)
    img[30:90, 40:120] = 220
    return img


@pytest.fixture(scope="session")
def image_b64(rgb_image) -> str:
    return png_b64(rgb_image)


@pytest.fixture(scope="session")
def image_id(api, image_b64) -> str:
    """The image encoded once; tests that only click reuse it."""
    r = api.post("/segment", json={"image": image_b64, "objects": [{"box": [40, 30, 120, 90]}]})
    assert r.status_code == 200, r.text
    return r.json()["image_id"]
