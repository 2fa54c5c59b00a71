"""`python -m model.evaluate` on synthetic data sets written in the real layouts (HQ-SAM's folders, LVOS's)."""

import json

import pytest

from model import evaluate
from model.training.fake_layout import write_fake_layout


@pytest.fixture(scope="module")
def fake_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake_data")
    return write_fake_layout(root, images_per_set=1, size=128, videos=2, frames=3)


def test_prints_tables_1_3_4_and_the_video_table(fake_data, tmp_path, capsys):
    rc = evaluate.main([
        "--manifest", str(fake_data), "--config", "hiera_t", "--image-size", "128", "--device", "cpu",
        "--tables", "1", "3", "4", "--video-sets", "LVOS-v1", "--limit", "1", "--out", str(tmp_path), "--no-progress",
    ])
    out = capsys.readouterr().out
    assert rc == 0
    for title in ("**Table 1**", "**Table 3**", "**Table 4**", "**Video**"):
        assert title in out
    assert "| Model | DIS-VD mIoU | DIS-VD mBIoU | ThinObject5K-TE mIoU" in out and "Average mBIoU |" in out
    assert "| 10 | mBIoU |" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["image"]) == ["DIS-VD", "ThinObject5K-TE", "COIFT", "HRSOD"]
    dis = results["image"]["DIS-VD"]
    assert dis["box|SAM 2"]["n"] == 1 and 0 <= dis["box|SAM2Refiner"]["mIoU"] <= 100
    assert dis["ablation|none"] == dis["box|SAM 2"]  # the same refiner-off path gives the same numbers
    assert dis["ablation|LA+PR+MR"] == dis["box|SAM2Refiner"]
    video = results["video"]["LVOS-v1 SAM 2"]
    assert video["objects"] >= 1 and 0 <= video["J&F"] <= 100
    assert (tmp_path / "results.md").read_text().startswith("**Table 1**")


def test_missing_data_set_is_an_error_not_a_traceback(fake_data, capsys):
    rc = evaluate.main(["--manifest", str(fake_data), "--sets", "DIS-TE", "--config", "hiera_t", "--image-size", "128"])
    assert rc == 2
    assert "'DIS-TE' is not in the manifest's 'test' section" in capsys.readouterr().err
