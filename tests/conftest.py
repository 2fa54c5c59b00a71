"""Shared fixtures: a tiny random SAM 2 checkpoint in the official format, written once per test session; a
redis-server of the session's own; and the test tiers (markers taken from the fixtures a test uses)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tests.service import processes
from tests.tiers import marks_of_fixtures, tier, undeclared

# The suite never reaches the network: the Hugging Face Hub is offline and its cache an empty folder of our own
# (so a developer's cached official weights never leak in). Set before anything imports huggingface_hub, which
# reads these once; service processes the tests start inherit them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_ENDPOINT", None)
_HF_HOME = tempfile.mkdtemp(prefix="sam2refiner-test-hf-")
os.environ["HF_HOME"] = _HF_HOME
os.environ.pop("HF_HUB_CACHE", None)
atexit.register(shutil.rmtree, _HF_HOME, True)

TEST_CONFIG = "hiera_t"
TEST_IMAGE_SIZE = 256

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def sam2_checkpoint(tmp_path_factory) -> str:
    """hiera_t SAM 2.1 with seeded random weights, saved as Meta publishes checkpoints: {"model": state_dict}."""
    from sam2refiner.model.sam2_compat import build_sam2_base

    sam2 = build_sam2_base(TEST_CONFIG, TEST_IMAGE_SIZE, seed=1234)
    path = tmp_path_factory.mktemp("weights") / "sam2.1_hiera_tiny_random.pt"
    torch.save({"model": sam2.state_dict()}, path)
    return str(path)


@pytest.fixture(scope="session")
def refiner_model(sam2_checkpoint):
    """A SAM2Refiner (all modules, random refiner weights) on the test checkpoint; shared, do not mutate."""
    from sam2refiner.model import build_sam2refiner

    return build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, "cpu", sam2_checkpoint=sam2_checkpoint, seed=7)


@pytest.fixture(scope="session")
@tier("slow")
def decoder_onnx(refiner_model, tmp_path_factory):
    """The test model's SAM 2 prompt encoder + mask decoder exported to ONNX once per session (seconds): the path."""
    from sam2refiner.model.sam2_compat.onnx_decoder import cached_decoder_onnx

    return cached_decoder_onnx(refiner_model.sam2, tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="session")
def test_image() -> np.ndarray:
    """A 300x400 RGB image with a bright disc and a thin bar on a noisy background."""
    rng = np.random.default_rng(0)
    img = (rng.random((300, 400, 3)) * 60).astype(np.uint8)
    yy, xx = np.mgrid[:300, :400]
    img[(yy - 150) ** 2 + (xx - 130) ** 2 < 60**2] = (220, 40, 40)
    img[100:104, 220:380] = (30, 200, 60)
    return img


@pytest.fixture(scope="session")
@tier("redis")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """The URL of a redis-server of this session's own: a free port, an empty folder, no persistence; stopped
    by its PID at the end. Nothing in the suite uses a Redis it did not start (there need be none on 6379)."""
    proc, url = processes.start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        processes.stop_redis(proc)


@pytest.fixture
def redis_prefix(redis_url):
    """A unique Redis key prefix; keys under it are deleted afterwards (only ours)."""
    import redis

    prefix = f"sam2refiner-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="session")
def video_checkpoint(tmp_path_factory, sam2_checkpoint) -> str:
    """The test checkpoint with its object-score head biased to "present", so random-weight video masks are not
    all forced to SAM 2's no-object score (which would make mask comparisons vacuous)."""
    blob = torch.load(sam2_checkpoint, map_location="cpu", weights_only=True)
    blob["model"]["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += 8.0
    path = tmp_path_factory.mktemp("weights") / "sam2.1_hiera_tiny_random_visible.pt"
    torch.save(blob, path)
    return str(path)


# ---------------------------------------------------------------------------------------------- test tiers
def pytest_collection_modifyitems(config, items):
    """Each test gets the tier markers of the fixtures it uses, directly or through other fixtures."""
    for item in items:
        for mark in marks_of_fixtures(item):
            item.add_marker(mark)


def _announced(item, phase):
    """A test whose fixtures (or body) start a process its markers do not announce fails, naming the marker it
    lacks: the fast tier stays free of servers as tests are added."""
    before = len(processes.STARTED)
    result = yield
    missing = undeclared(item, processes.STARTED[before:])
    if missing:
        pytest.fail(
            f"{phase} started {', '.join(missing)} process(es) but the test is not marked {', '.join(missing)}: "
            "put @tier(...) from tests/tiers.py under the @pytest.fixture that starts it (or mark the test)",
            pytrace=False,
        )
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _announced(item, "its fixtures"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _announced(item, "the test"))


@pytest.fixture(autouse=True)
def _torch_grad_mode_left_as_found():
    """torch's grad mode is process-wide: a test (or a bench main() it calls) that switches it off and leaves it
    off breaks every training test after it, far from the cause. The test that leaks it fails instead."""
    yield
    leaked = not torch.is_grad_enabled()
    torch.set_grad_enabled(True)
    assert not leaked, "this test left torch's grad mode off (use torch.no_grad() as a context, not set_grad_enabled)"
