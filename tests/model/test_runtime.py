"""The device policy in one place: TF32 only when asked for, the inference context, stage timers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sam2refiner.model.runtime import StageTimer, enable_tf32, inference_context, inference_dtype, resolve_device


def _tf32_flags():
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32


def test_tf32_is_never_switched_on_for_a_cpu():
    before = _tf32_flags()
    assert enable_tf32("cpu") is False
    assert _tf32_flags() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tf32_is_switched_on_on_ampere_and_newer(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    ampere = torch.cuda.get_device_properties(0).major >= 8
    assert enable_tf32("cuda") is ampere
    assert _tf32_flags() == (ampere, ampere)


def test_inference_context_on_a_cpu_is_inference_mode_in_fp32():
    with inference_context("cpu"):
        assert torch.is_inference_mode_enabled() and not torch.is_autocast_enabled("cuda")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert not torch.is_inference_mode_enabled()
    assert inference_dtype("cpu") == "float32" and inference_dtype("cuda") == "bfloat16 (autocast)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_inference_context_on_cuda_autocasts_to_bf16():
    with inference_context("cuda"):
        assert (torch.ones(2, 2, device="cuda") @ torch.ones(2, 2, device="cuda")).dtype == torch.bfloat16


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA was asked for"):
            resolve_device("cuda")


def test_stage_timer_adds_seconds_per_stage():
    seconds: dict[str, float] = {"decoder": 1.0}
    timer = StageTimer("cpu", seconds)
    with timer.stage("decoder"):
        pass
    with timer.stage("refine"):
        pass
    assert set(seconds) == {"decoder", "refine"} and seconds["decoder"] >= 1.0 and seconds["refine"] >= 0.0


def test_stage_timer_counts_a_failed_stage():
    seconds: dict[str, float] = {}
    with pytest.raises(RuntimeError), StageTimer("cpu", seconds).stage("decoder"):
        raise RuntimeError
    assert "decoder" in seconds


def test_stage_timer_times_each_call_of_a_module():
    seconds: dict[str, float] = {}
    timer, layer = StageTimer("cpu", seconds), nn.Linear(2, 2)
    layer(torch.ones(1, 2))  # outside the block: not timed
    with timer.module(layer, "linear"):
        layer(torch.ones(1, 2))
    assert set(seconds) == {"linear"}
    assert not layer._forward_hooks and not layer._forward_pre_hooks  # removed again
    layer(torch.ones(1, 2))
    assert set(seconds) == {"linear"}


def test_stage_timer_without_a_dict_times_nothing():
    timer, layer = StageTimer("cpu"), nn.Linear(2, 2)
    with timer.stage("decoder"), timer.module(layer, "linear"):
        assert not layer._forward_hooks
        layer(torch.ones(1, 2))
    assert timer.seconds is None
