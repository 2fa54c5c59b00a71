"""Fixtures of the video file tests: an app on the test checkpoint (sessions in the process), a synthetic clip."""

from __future__ import annotations

import pytest

from sam2refiner.service.app import create_app
from tests.model.video.helpers import clip
from tests.service.conftest import AppClient
from tests.service.video.video_helpers import video_settings
from tests.tiers import tier

from .media import encode


@pytest.fixture(scope="module")
@tier("slow")  # the model built, frames encoded
def files_api(video_checkpoint):
    settings = video_settings(
        video_checkpoint,
        "files-test",
        video_file_max_frames=30,
        video_file_max_bytes=2_000_000,
        video_file_url_hosts="127.0.0.1",  # the stand-in video host (test_video_url.py); not "localhost"
        video_file_url_timeout_s=5.0,
        random_refiner=False,
    )
    client = AppClient(create_app(settings))
    yield client
    client.close()


@pytest.fixture(scope="session")
def small_clip():
    """(frames [8, 240, 320, 3], masks [8, K, 240, 320], the clip as MP4/H.264)."""
    frames, masks = clip(num_frames=8)
    return frames, masks, encode(frames)
