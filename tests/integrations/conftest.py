"""Fixtures of the integration tests: a real Label Studio and the service it connects to (both for the session,
on free loopback ports), a local web server standing in for image hosts, and the media they serve."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TEST_CONFIG, TEST_IMAGE_SIZE
from tests.integrations.labelstudio_process import TOKEN, running_label_studio
from tests.integrations.media import write_video
from tests.service import processes
from tests.tiers import tier
from tests.web_stand_in import QuietHandler, serving

API_KEY = "integration-test-key"


@pytest.fixture(scope="session")
def stand_in_host(tmp_path_factory):
    """A plain web server on loopback serving a folder: an image host as a task's http URL names it."""
    root = tmp_path_factory.mktemp("www")
    with serving(functools.partial(QuietHandler, directory=str(root))) as url:
        yield root, url


@pytest.fixture(scope="session")
def label_studio_port() -> int:
    """Chosen first, so the service knows Label Studio's URL without waiting for it to start."""
    return processes.free_port()


@pytest.fixture(scope="session")
@tier("labelstudio", "slow")
def label_studio(tmp_path_factory, label_studio_port):
    with running_label_studio(tmp_path_factory.mktemp("label-studio"), label_studio_port) as ls:
        yield ls


@pytest.fixture(scope="session")
@tier("service", "slow")
def service(tmp_path_factory, video_checkpoint, label_studio_port):
    """The service (uvicorn; hiera_t at 256, random refiner, an API key) that Label Studio and the CVAT functions
    call; its Label Studio URL is the test's Label Studio."""
    with processes.running_service(
        tmp_path_factory.mktemp("service"),
        sam2_config=TEST_CONFIG,
        image_size=str(TEST_IMAGE_SIZE),
        sam2_checkpoint=video_checkpoint,
        device="cpu",
        random_refiner="true",
        api_key=API_KEY,
        labelstudio_url=f"http://127.0.0.1:{label_studio_port}",
        labelstudio_token=TOKEN,
    ) as (url, log):
        yield url, log


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    """160 x 120 RGB: a bright disc and a bar on noise."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:120, :160]
    img[(yy - 60) ** 2 + (xx - 60) ** 2 < 30**2] = (230, 60, 40)
    img[20:26, 90:150] = (40, 200, 80)
    return img


@pytest.fixture(scope="session")
def media(label_studio, stand_in_host, scene, tmp_path_factory) -> dict:
    """The test's files where Label Studio and the stand-in host serve them."""
    uploads = tmp_path_factory.mktemp("uploads")
    (label_studio.media / "images").mkdir()
    Image.fromarray(scene).save(uploads / "scene.png")
    Image.fromarray(scene[:, ::-1].copy()).save(label_studio.media / "images" / "mirrored.png")
    Image.fromarray(scene[::-1].copy()).save(stand_in_host[0] / "flipped.png")
    write_video(label_studio.media / "images" / "clip.mp4")
    return {
        "upload": uploads / "scene.png",
        "local_image": "/data/local-files/?d=images/mirrored.png",
        "http_image": f"{stand_in_host[1]}/flipped.png",
        "video": "/data/local-files/?d=images/clip.mp4",
        "video_path": label_studio.media / "images" / "clip.mp4",
    }


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))
