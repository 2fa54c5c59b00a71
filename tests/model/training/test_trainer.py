"""The trainer: resumable (same next loss, same weights), two-process DDP over gloo, checkpoints, bad options.

These use image_size 128 (the smallest SAM 2 accepts) and a handful of steps: they check the machinery, the
slow smoke test (test_smoke_training.py) checks that training at 256 actually learns.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sam2refiner.model.training.config import TrainConfig, load_train_config
from sam2refiner.model.training.engine import Trainer
from sam2refiner.model.training.train_state import TrainStateError

REPO = Path(__file__).resolve().parents[3]


def tiny_config(out_dir, **kw) -> TrainConfig:
    base = dict(
        sam2_config="hiera_t",
        image_size=128,
        data="synthetic",
        synthetic_images=3,
        synthetic_objects=1,
        augment_prob=0.5,
        feature_cache_mb=0,
        num_workers=0,
        epochs=4,
        batch_size=1,
        schedule="cosine",
        out_dir=str(out_dir),
        log_every=1,
        checkpoint_every=1,
        progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_resumed_run_repeats_the_uninterrupted_one(tmp_path):
    straight = Trainer(tiny_config(tmp_path / "a", max_steps=4)).fit()
    first = Trainer(tiny_config(tmp_path / "b", max_steps=2)).fit()
    assert first.step == 2 and (tmp_path / "b" / "checkpoints" / "last.pt").exists()
    resumed = Trainer(tiny_config(tmp_path / "b", max_steps=4)).fit()  # resume: auto
    # 3 images per epoch: the resumed run finishes epoch 0 mid-way and starts epoch 1, like the straight one
    assert [s for s, _ in resumed.losses] == [3, 4]
    assert [loss for _, loss in resumed.losses] == [loss for s, loss in straight.losses if s > 2]
    assert resumed.digest == straight.digest
    # the CSV log continues instead of starting over
    rows = (tmp_path / "b" / "train_log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]


@pytest.mark.slow
def test_state_file_holds_only_plain_tensors_and_refuses_other_models(tmp_path):
    Trainer(tiny_config(tmp_path, max_steps=1)).fit()
    path = tmp_path / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)  # no pickled objects
    assert set(state) == {"format", "version", "step", "epoch", "config", "refiner", "optimizer", "scheduler"}
    assert not any(k.startswith("sam2.") for k in state["refiner"])
    other = Trainer(tiny_config(tmp_path, max_steps=2, modules={"la": False, "pr": True, "mr": True}))
    with pytest.raises(TrainStateError, match="another model: modules"):
        other.fit()


@pytest.mark.slow
def test_final_weights_load_in_the_predictor(tmp_path):
    from sam2refiner.model import SAM2RefinerImagePredictor, build_sam2refiner
    from sam2refiner.model.training.synthetic import synthetic_image

    result = Trainer(tiny_config(tmp_path, max_steps=1)).fit()
    model = build_sam2refiner("hiera_t", 128, refiner_checkpoint=result.refiner_path)
    assert model.weights.refiner_sha256 is not None
    predictor = SAM2RefinerImagePredictor(model)
    predictor.set_image(synthetic_image(0, 96)[0])
    masks, scores, _ = predictor.predict(box=[10, 10, 60, 60], multimask_output=False)
    assert masks.shape == (1, 96, 96)


@pytest.mark.parametrize(
    "override, message",
    [
        (["data=manifest"], "no manifest file"),
        (["schedule=linear"], "schedule"),
        (["batch_size=0"], "batch_size"),
        (["nonsense=1"], "unknown options"),
        (["modules.xx=true"], "unknown switches"),
    ],
)
def test_bad_options_are_refused_with_a_message(override, message):
    with pytest.raises(ValueError, match=message):
        load_train_config(None, ["data=synthetic", *override])


@pytest.mark.slow
def test_cli_reports_bad_input_without_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sam2refiner.model.train", "data=manifest", f"manifest={tmp_path / 'none.yaml'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error: manifest" in proc.stderr and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_two_process_torchrun_ends_with_identical_weights(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "sam2refiner.model.train",
        "--device",
        "cpu",
        "sam2_config=hiera_t",
        "image_size=128",
        "data=synthetic",
        "synthetic_images=4",
        "synthetic_objects=1",
        "batch_size=1",
        "max_steps=3",
        "num_workers=0",
        "feature_cache_mb=0",
        "progress=false",
        f"out_dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0_summary.json").read_text())
    r1 = json.loads((tmp_path / "rank1_summary.json").read_text())
    assert r0["step"] == r1["step"] == 3
    assert r0["digest"] == r1["digest"]
    assert r0["losses"] == r1["losses"]  # the logged loss is the mean over ranks
    assert (tmp_path / "refiner.safetensors").exists()
