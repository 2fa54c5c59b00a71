"""Acceptance: a refiner trained on synthetic IMAGES (the CPU smoke run) improves J&F over refiner-off when it
tracks held-out synthetic videos of moving thin structures through the streaming tracker, and the evaluation CLI
prints Table 2's layout for data laid out like LVOS v1 / v2.

Reuses the session's smoke training run (tests/model/conftest.py), so the image and video smoke tests train once.
The videos are written in LVOS's layout (JPEG frames, palette label maps, meta JSON, unseen list) with other
seeds than the training images, and go through ``python -m sam2refiner.model.evaluate`` as real LVOS would.
"""

import json

import pytest

from sam2refiner.model import evaluate
from sam2refiner.model.training.fake_layout import write_fake_layout

FRAMES, VIDEOS = 6, 3  # per LVOS version: 3 sequences (seen, unseen, seen) of 6 frames at 256 px
# Branches (strokes thinning from 4 px to 1 px) and holed blobs and rings: thin parts, but objects SAM 2's
# first-frame mask prompt keeps. It goes through SAM 2's S/4 mask (64 px at 256), where 1-3 px curves and wires
# vanish altogether, for SAM 2 and the refiner alike (the mask prompt is SAM 2's own path).
KINDS = ("holed", "branch")
# J&F points on each LVOS version; measured +8.4 (LVOS-v1) and +8.1 (LVOS-v2) with these seeds, scored as
# lvos-evaluation at HEAD does (+6.5 and +6.6 in an earlier run scored on every frame, v1 over all objects).
MARGIN = 3.0


@pytest.mark.slow
def test_refiner_trained_on_images_tracks_thin_structures_better(smoke_run, smoke_sam2_checkpoint, tmp_path, capsys):
    config, result = smoke_run
    manifest = write_fake_layout(
        tmp_path / "data",
        images_per_set=0,
        size=config.image_size,
        videos=VIDEOS,
        frames=FRAMES,
        seed=config.synthetic_seed + 8,
        video_kinds=KINDS,
    )
    rc = evaluate.main(
        [
            "--manifest",
            str(manifest),
            "--config",
            config.sam2_config,
            "--image-size",
            str(config.image_size),
            "--device",
            "cpu",
            "--sam2-checkpoint",
            smoke_sam2_checkpoint,
            "--refiner-checkpoint",
            str(result.refiner_path),
            "--sets",
            "--video-sets",
            "LVOS-v1",
            "LVOS-v2",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert (
        "**Table 2**" in out
        and (
            "| Methods | LVOS-v1 J&F | LVOS-v1 J | LVOS-v1 F | LVOS-v2 J&F | LVOS-v2 J_s | "
            "LVOS-v2 F_s | LVOS-v2 J_u | LVOS-v2 F_u |"
        )
        in out
    )
    assert "| SAM 2 |" in out and "| SAM2Refiner |" in out
    video = json.loads((tmp_path / "out" / "results.json").read_text())["video"]
    with capsys.disabled():
        print("\n" + out)
    for name in ("LVOS-v1", "LVOS-v2"):
        off, on = video[name]["SAM 2"], video[name]["SAM2Refiner"]
        assert off["objects"] == on["objects"] >= VIDEOS
        assert on["J&F"] > off["J&F"] + MARGIN, (name, off["J&F"], on["J&F"])
