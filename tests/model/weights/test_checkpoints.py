"""Official SAM 2 checkpoints load strictly; refiner checkpoints round-trip and refuse mismatches."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from sam2refiner.model import CheckpointError, RefinerSwitches, build_sam2refiner
from sam2refiner.model.sam2_compat import build_sam2_base
from sam2refiner.model.weights.digest import file_sha256
from sam2refiner.model.weights.refiner_checkpoint import save_refiner_checkpoint
from tests.conftest import TEST_CONFIG, TEST_IMAGE_SIZE


@pytest.mark.slow  # builds a model
def test_official_checkpoint_is_loaded(sam2_checkpoint):
    model = build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, sam2_checkpoint=sam2_checkpoint, seed=99)
    saved = torch.load(sam2_checkpoint, weights_only=True)["model"]
    for key, value in model.sam2.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert model.weights.sam2_sha256 == file_sha256(sam2_checkpoint) and not model.weights.random_sam2
    assert model.weights.random_refiner
    assert all(not p.requires_grad for p in model.sam2.parameters()) and not model.sam2.training


@pytest.mark.slow  # builds several models
def test_random_weights_are_flagged_and_seeded():
    a = build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, seed=3)
    b = build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, seed=3)
    assert a.weights.random_sam2 and a.weights.random_refiner
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_missing_sam2_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*nope.pt"):
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, sam2_checkpoint=tmp_path / "nope.pt")


@pytest.mark.slow  # builds several models
def test_sam2_checkpoint_of_another_config_lists_keys(tmp_path, sam2_checkpoint):
    state = torch.load(sam2_checkpoint, weights_only=True)["model"]
    state.pop("no_mem_embed")
    state["extra.weight"] = torch.zeros(1)
    state["sam_mask_decoder.iou_token.weight"] = torch.zeros(2, 2)
    path = tmp_path / "bad.pt"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError) as err:
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, sam2_checkpoint=path)
    msg = str(err.value)
    assert "1 missing keys: no_mem_embed" in msg and "1 unexpected keys: extra.weight" in msg
    assert "sam_mask_decoder.iou_token.weight (2, 2) != (1, 256)" in msg


@pytest.mark.slow  # builds several models
def test_hiera_s_checkpoint_does_not_fit_hiera_t(tmp_path):
    small = build_sam2_base("hiera_s", TEST_IMAGE_SIZE)
    path = tmp_path / "small.pt"
    torch.save({"model": small.state_dict()}, path)
    # Refused before anything is built, naming the config the file holds.
    with pytest.raises(
        CheckpointError, match=r"small.pt holds hiera_s weights .*config hiera_t was asked for: ask for hiera_s"
    ):
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, sam2_checkpoint=path)
    assert build_sam2refiner("auto", TEST_IMAGE_SIZE, sam2_checkpoint=path).config.sam2_config == "hiera_s"


@pytest.mark.parametrize("content", [b"not a checkpoint", None], ids=["garbage", "not-official-format"])
def test_unreadable_sam2_checkpoint(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"state_dict": {}}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="could not be read safely|not in the official format"):
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, sam2_checkpoint=path)


@pytest.mark.slow  # builds several models
def test_refiner_checkpoint_round_trips_bit_exactly(tmp_path, sam2_checkpoint):
    a = build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, sam2_checkpoint=sam2_checkpoint, seed=1)
    path = tmp_path / "refiner.safetensors"
    sha = save_refiner_checkpoint(a, path)
    b = build_sam2refiner(
        TEST_CONFIG, TEST_IMAGE_SIZE, sam2_checkpoint=sam2_checkpoint, refiner_checkpoint=path, seed=2
    )
    sa, sb = a.refiner_state_dict(), b.refiner_state_dict()
    assert sa.keys() == sb.keys() and len(sa) > 0
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert not any(k.startswith("sam2.") for k in sa)  # SAM 2 is never saved again
    assert b.weights.refiner_sha256 == sha and not b.weights.random_refiner


@pytest.mark.slow  # builds several models
def test_refiner_checkpoint_brings_its_module_switches(tmp_path):
    a = build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, modules=RefinerSwitches(la=False, pr=True, mr=True))
    path = tmp_path / "refiner.safetensors"
    save_refiner_checkpoint(a, path)
    b = build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, refiner_checkpoint=path)
    assert b.config.modules == RefinerSwitches(la=False, pr=True, mr=True)


@pytest.mark.slow  # builds several models
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(config="hiera_s"), "sam2_config: checkpoint has 'hiera_t', model has 'hiera_s'"),
        (dict(image_size=512), "image_size: checkpoint has 256, model has 512"),
        (dict(modules=RefinerSwitches(la=False)), "modules: checkpoint has"),
    ],
)
def test_mismatched_refiner_checkpoint_is_refused(tmp_path, kwargs, message):
    a = build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE)
    path = tmp_path / "refiner.safetensors"
    save_refiner_checkpoint(a, path)
    args = dict(config=TEST_CONFIG, image_size=TEST_IMAGE_SIZE) | kwargs
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_sam2refiner(refiner_checkpoint=path, **args)


def test_refiner_checkpoint_without_header_or_with_pickle_is_refused(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(1)}, str(plain))
    with pytest.raises(CheckpointError, match="no SAM2Refiner header"):
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, refiner_checkpoint=plain)
    pickled = tmp_path / "refiner.pt"
    torch.save({"x": torch.zeros(1)}, pickled)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, refiner_checkpoint=pickled)
    future = tmp_path / "future.safetensors"
    header = {"format": "sam2refiner", "format_version": 99, "config": {}}
    save_file({"x": torch.zeros(1)}, str(future), metadata={"sam2refiner": json.dumps(header)})
    with pytest.raises(CheckpointError, match="v99"):
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, refiner_checkpoint=future)


def test_missing_refiner_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="refiner checkpoint not found"):
        build_sam2refiner(TEST_CONFIG, TEST_IMAGE_SIZE, refiner_checkpoint=tmp_path / "missing.safetensors")


@pytest.mark.parametrize("bad", [{"config": "hiera_xl"}, {"image_size": 300}])
def test_unknown_config_or_size(bad):
    with pytest.raises(ValueError, match="config|image_size"):
        build_sam2refiner(**({"config": TEST_CONFIG, "image_size": TEST_IMAGE_SIZE} | bad))
