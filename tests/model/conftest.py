"""Fixtures shared by the model tests: the CPU smoke training run, trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """(config, TrainResult) of configs/smoke_cpu.yaml trained on the CPU: hiera_t at 256 with random (seeded)
    SAM 2 weights on synthetic images. Used only by slow tests (the image and the video smoke runs share it)."""
    from sam2refiner.model.training.config import load_train_config
    from sam2refiner.model.training.engine import Trainer

    out = tmp_path_factory.mktemp("smoke_run")
    config = load_train_config(REPO / "configs" / "smoke_cpu.yaml", [f"out_dir={out}", "progress=false"])
    return config, Trainer(config, "cpu").fit()


@pytest.fixture(scope="session")
def smoke_sam2_checkpoint(smoke_run, tmp_path_factory) -> str:
    """The smoke run's random SAM 2 saved as an official checkpoint, its object-score head biased to "present"
    (as the video tests' checkpoint): with random weights SAM 2 would otherwise call every tracked object absent
    and force its masks away, leaving nothing to compare. Masks, IoUs and embeddings are untouched, so the
    refiner trained on the unbiased model fits this one."""
    from sam2refiner.model.sam2_compat import build_sam2_base

    config, _ = smoke_run
    sam2 = build_sam2_base(config.sam2_config, config.image_size, seed=config.seed)
    state = sam2.state_dict()
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += 8.0
    path = tmp_path_factory.mktemp("weights") / "sam2.1_hiera_tiny_smoke_visible.pt"
    torch.save({"model": state}, path)
    return str(path)
