"""The one factory: the weights are chosen and read once, ``load_model`` says what was loaded and why, and
building sets no global flag."""

from __future__ import annotations

import pytest
import torch

from sam2refiner.model import RefinerSwitches, build_sam2refiner, load_model
from sam2refiner.model.weights import refiner_checkpoint
from sam2refiner.model.weights.digest import file_sha256
from sam2refiner.model.weights.refiner_checkpoint import save_refiner_checkpoint
from tests.conftest import TEST_CONFIG, TEST_IMAGE_SIZE


def _tf32_flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()


@pytest.fixture
def trained_refiner(tmp_path):
    model = build_sam2refiner("hiera_t", TEST_IMAGE_SIZE, modules=RefinerSwitches(la=False, pr=True, mr=True), seed=5)
    path = tmp_path / "refiner.safetensors"
    save_refiner_checkpoint(model, path)
    return path


@pytest.mark.slow  # builds models
def test_load_model_says_which_weights_and_why(sam2_checkpoint, trained_refiner):
    model, weights = load_model(
        config="auto", image_size=TEST_IMAGE_SIZE, sam2_checkpoint=sam2_checkpoint, refiner_checkpoint=trained_refiner
    )
    assert weights is model.weights
    assert weights.config == model.config.sam2_config == TEST_CONFIG
    assert weights.config_reason.startswith(f"auto: {TEST_CONFIG}, read from the tensor shapes of")
    assert weights.sam2_source == f"checkpoint {sam2_checkpoint}"
    assert weights.sam2_sha256 == file_sha256(sam2_checkpoint)
    assert weights.refiner == "trained" and weights.refiner_sha256 == file_sha256(trained_refiner)
    assert model.config.modules == RefinerSwitches(la=False, pr=True, mr=True)


def test_without_checkpoints_the_reasons_say_random():
    _, weights = load_model(config="auto", image_size=TEST_IMAGE_SIZE, device="cpu", modules=RefinerSwitches.off())
    assert weights.config == "hiera_t" and "because the device is a CPU" in weights.config_reason
    assert weights.sam2_source.startswith("RANDOM: no SAM 2 checkpoint was given and fetching is off")
    assert weights.random_sam2 and weights.refiner == "none"


@pytest.mark.slow  # builds models
def test_the_refiner_file_is_read_once(monkeypatch, trained_refiner):
    """It names the config (auto), the module switches and the tensors: one reading serves all three."""
    opened = []
    real = refiner_checkpoint.safe_open

    def counting_safe_open(path, *args, **kwargs):
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(refiner_checkpoint, "safe_open", counting_safe_open)
    model = build_sam2refiner("auto", TEST_IMAGE_SIZE, refiner_checkpoint=trained_refiner)
    assert opened == [str(trained_refiner)]
    assert model.config.sam2_config == "hiera_t" and "the refiner checkpoint" in model.weights.config_reason


def test_building_sets_no_global_flag():
    before = _tf32_flags()
    build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, "cpu", seed=1)
    assert _tf32_flags() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_building_on_a_gpu_sets_no_global_flag():
    before = _tf32_flags()
    build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, "cuda", seed=1)
    assert _tf32_flags() == before
