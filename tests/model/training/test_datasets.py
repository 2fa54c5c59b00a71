"""Readers and manifest on small folders written here: pairing, clear errors, the HQ-SAM and LVOS layouts."""

import json

import numpy as np
import pytest
from PIL import Image

from sam2refiner.model.training.datasets import (
    ConcatImages,
    DatasetError,
    ImageMaskFolder,
    LVOSDataset,
    SyntheticImages,
    load_manifest,
    open_image_set,
    open_video_set,
)
from sam2refiner.model.training.fake_layout import write_fake_layout


def write_pair(folder_im, folder_gt, stem, size=(20, 30), mask_size=None, ext=".jpg"):
    folder_im.mkdir(parents=True, exist_ok=True)
    folder_gt.mkdir(parents=True, exist_ok=True)
    h, w = size
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(folder_im / f"{stem}{ext}")
    mh, mw = mask_size or size
    m = np.zeros((mh, mw), np.uint8)
    m[2:6, 3:9] = 255
    Image.fromarray(m).save(folder_gt / f"{stem}.png")


def test_pairs_by_stem_and_reads_binary_masks(tmp_path):
    for stem in ("b", "a"):
        write_pair(tmp_path / "im", tmp_path / "gt", stem)
    ds = ImageMaskFolder("toy", tmp_path / "im", tmp_path / "gt")
    assert len(ds) == 2 and ds.stems == ["a", "b"]
    item = ds[0]
    assert item["image"].shape == (20, 30, 3) and item["masks"].shape == (1, 20, 30)
    assert item["masks"].dtype == bool and item["masks"].sum() == 4 * 6


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match="images folder .*nowhere.* does not exist"):
        ImageMaskFolder("toy", tmp_path / "nowhere", tmp_path)


def test_unpaired_files_are_listed(tmp_path):
    write_pair(tmp_path / "im", tmp_path / "gt", "a")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "im" / "lonely.jpg")
    with pytest.raises(DatasetError, match=r"unpaired files: 1 images without .*'lonely'"):
        ImageMaskFolder("toy", tmp_path / "im", tmp_path / "gt")


def test_mask_of_the_wrong_size_is_refused_with_both_names(tmp_path):
    write_pair(tmp_path / "im", tmp_path / "gt", "a", size=(20, 30), mask_size=(10, 30))
    ds = ImageMaskFolder("toy", tmp_path / "im", tmp_path / "gt")
    with pytest.raises(DatasetError, match=r"a\.png is 30x10 but image .*a\.jpg is 30x20"):
        ds[0]


def test_concat_keeps_global_indices():
    cat = ConcatImages([SyntheticImages("x", 2, 64, seed=1), SyntheticImages("y", 3, 64, seed=2)])
    assert len(cat) == 5
    assert cat[3]["index"] == 3 and cat[3]["name"] == "y_00001"


def test_fake_layout_reads_back_through_the_manifest(tmp_path):
    manifest_path = write_fake_layout(tmp_path, images_per_set=2, size=64, videos=2, frames=4, train=True)
    manifest = load_manifest(manifest_path)
    assert list(manifest["test"]) == ["DIS-VD", "ThinObject5K-TE", "COIFT", "HRSOD"]
    assert "DIS5K-TR" in manifest["train"] and "MSRA10K" in manifest["train"]
    ds = open_image_set(manifest, "test", "HRSOD")
    assert len(ds) == 2 and ds[1]["masks"].any()
    lvos = open_video_set(manifest, "LVOS-v1")
    assert len(lvos) == 2
    seq = lvos.sequences[1]
    assert seq.unseen and not lvos.sequences[0].unseen  # from unseen_videos.txt
    assert seq.load_frames().shape == (4, 64, 64, 3)
    obj = seq.objects[0]
    assert (obj.start, obj.end) == (0, 3)
    assert seq.object_mask(0, obj.object_id).any()


def test_hqseg44k_layout_names_the_real_folders(tmp_path):
    (tmp_path / "m.yaml").write_text("root: /data\nlayout: hqseg44k\n")
    manifest = load_manifest(tmp_path / "m.yaml")
    assert manifest["train"]["DIS5K-TR"] == {"images": "DIS5K/DIS-TR/im", "masks": "DIS5K/DIS-TR/gt"}
    assert manifest["test"]["HRSOD"]["masks"] == "thin_object_detection/HRSOD/masks_max255"
    with pytest.raises(DatasetError, match="DIS5K/DIS-VD/im does not exist"):
        open_image_set(manifest, "test", "DIS-VD")
    with pytest.raises(DatasetError, match="not in the manifest's 'test' section"):
        open_image_set(manifest, "test", "nope")


def test_bad_manifests(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_manifest(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("layout: coco\n")
    with pytest.raises(DatasetError, match="unknown layout"):
        load_manifest(tmp_path / "bad.yaml")


def test_lvos_missing_meta_is_named(tmp_path):
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    with pytest.raises(DatasetError, match="valid_meta.json is missing"):
        LVOSDataset("lvos", tmp_path, meta="valid_meta.json")
    (tmp_path / "valid_meta.json").write_text(json.dumps({"nothing": 1}))
    with pytest.raises(DatasetError, match="'videos' key"):
        LVOSDataset("lvos", tmp_path, meta="valid_meta.json")
