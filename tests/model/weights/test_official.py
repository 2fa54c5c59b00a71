"""First run: config auto (from the checkpoint's tensor shapes, else by device) and the official SAM 2.1 weights
from the Hugging Face Hub, against a local stand-in for the Hub (no network), with the offline, blocked and
corrupted-download fallbacks."""

from __future__ import annotations

import time

import huggingface_hub.constants
import pytest
import torch
import torch.utils._device
from hydra.utils import instantiate

from sam2refiner.model.config import SAM2_CONFIGS
from sam2refiner.model.errors import CheckpointError
from sam2refiner.model.sam2_compat.builder import config_of_state_dict, sam2_model_config
from sam2refiner.model.weights.choice import choose_sam2
from sam2refiner.model.weights.official import OFFICIAL_FILES, FetchError, fetch_official_checkpoint
from tests.hub_stand_in import HubStandIn, SilentServer

TINY = ("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt")


class _MetaExceptLinspace(torch.utils._device.DeviceContext):
    """Builds modules on the meta device (shapes, no memory); Hiera's drop-path schedule needs real scalars."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is torch.linspace:
            return func(*args, **(kwargs or {}))
        return super().__torch_function__(func, types, args, kwargs)


def _shapes_only_checkpoint(path, config: str) -> bytes:
    """An official-format file with just the tensors config detection reads (Hiera's width and blocks)."""
    with _MetaExceptLinspace("meta"):
        state = instantiate(sam2_model_config(config, 1024), _recursive_=True).image_encoder.trunk.state_dict()
    keep = {
        f"image_encoder.trunk.{k}": torch.zeros(v.shape if k == "patch_embed.proj.weight" else (1,))
        for k, v in state.items()
        if k == "patch_embed.proj.weight" or k.endswith(".norm1.weight")
    }
    torch.save({"model": keep}, path)
    return path.read_bytes()


@pytest.fixture
def online_hub(monkeypatch, tmp_path):
    """The Hub client online (the suite sets HF_HUB_OFFLINE) with an empty cache of this test's own."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_official_files_are_sam2s_own_hub_names():
    assert OFFICIAL_FILES == {
        "hiera_t": ("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt"),
        "hiera_s": ("facebook/sam2.1-hiera-small", "sam2.1_hiera_small.pt"),
        "hiera_b+": ("facebook/sam2.1-hiera-base-plus", "sam2.1_hiera_base_plus.pt"),
        "hiera_l": ("facebook/sam2.1-hiera-large", "sam2.1_hiera_large.pt"),
    }


@pytest.mark.parametrize("config", list(SAM2_CONFIGS))
def test_config_is_read_from_the_full_state_dict_shapes(config):
    with _MetaExceptLinspace("meta"):  # the whole SAM 2 model, shapes only: cheap even for hiera_l
        state = instantiate(sam2_model_config(config, 1024), _recursive_=True).state_dict()
    assert config_of_state_dict(state) == config


def test_auto_picks_hiera_t_on_cpu_and_hiera_l_on_cuda():
    cpu = choose_sam2("auto", "cpu")
    assert cpu.config == "hiera_t" and "CPU" in cpu.config_reason and cpu.random and "fetching is off" in cpu.weights
    cuda = choose_sam2("auto", torch.device("cuda"))  # only the choice: nothing touches a GPU
    assert cuda.config == "hiera_l" and "CUDA" in cuda.config_reason
    assert choose_sam2("auto", "cpu", refiner_config="hiera_b+").config == "hiera_b+"


def test_auto_reads_the_checkpoint_and_a_disagreeing_config_is_refused(tmp_path):
    path = tmp_path / "mine.pt"
    _shapes_only_checkpoint(path, "hiera_b+")
    choice = choose_sam2("auto", "cpu", path)
    assert choice.config == "hiera_b+" and "tensor shapes" in choice.config_reason and choice.checkpoint == path
    with pytest.raises(CheckpointError, match=r"mine.pt holds hiera_b\+ weights.*config hiera_l was asked for"):
        choose_sam2("hiera_l", "cuda", path)


def test_fetches_the_official_file_from_the_hub_and_then_from_its_cache(online_hub, tmp_path):
    data = _shapes_only_checkpoint(tmp_path / "served.pt", "hiera_t")
    with HubStandIn({TINY: data}) as hub:
        choice = choose_sam2("auto", "cpu", fetch=True, endpoint=hub.url)
        assert hub.gets() == 1
    assert choice.config == "hiera_t" and not choice.random and choice.checkpoint.read_bytes() == data
    assert "official facebook/sam2.1-hiera-tiny" in choice.weights
    assert online_hub in choice.checkpoint.parents  # in the library's cache layout: models--facebook--.../snapshots
    assert "models--facebook--sam2.1-hiera-tiny" in str(choice.checkpoint)
    # The Hub is gone now: the cached file is used without asking it.
    again = choose_sam2("auto", "cpu", fetch=True, endpoint=hub.url, fetch_timeout_s=1)
    assert again.checkpoint == choice.checkpoint


def test_a_prefilled_cache_is_used_offline(monkeypatch, tmp_path):
    """A cache copied from another machine (the Hub's layout) works with HF_HUB_OFFLINE and no endpoint."""
    data = _shapes_only_checkpoint(tmp_path / "served.pt", "hiera_t")
    snapshot = (
        tmp_path
        / "hub"
        / "models--facebook--sam2.1-hiera-tiny"
        / "snapshots"
        / "0123456789abcdef0123456789abcdef01234567"
    )
    snapshot.mkdir(parents=True)
    (snapshot / TINY[1]).write_bytes(data)
    (tmp_path / "hub" / "models--facebook--sam2.1-hiera-tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--facebook--sam2.1-hiera-tiny" / "refs" / "main").write_text(snapshot.name)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    choice = choose_sam2("auto", "cpu", fetch=True)
    assert choice.checkpoint == snapshot / TINY[1] and not choice.random


def test_offline_falls_back_to_random_weights_at_once():
    start = time.perf_counter()
    choice = choose_sam2("auto", "cpu", fetch=True)  # the suite runs with HF_HUB_OFFLINE=1 and an empty cache
    assert time.perf_counter() - start < 1.0
    assert choice.random and choice.weights.startswith("RANDOM") and "HF_HUB_OFFLINE" in choice.weights


def test_a_hub_that_never_answers_falls_back_within_the_timeout(online_hub):
    with SilentServer() as silent:
        start = time.perf_counter()
        choice = choose_sam2("auto", "cpu", fetch=True, endpoint=silent.url, fetch_timeout_s=1.0)
        elapsed = time.perf_counter() - start
    assert elapsed < 4.0, f"{elapsed:.1f} s: the library's long retry was not avoided"
    assert choice.random and "could not be reached" in choice.weights and "timeout 1 s" in choice.weights


def test_a_truncated_download_is_refused_by_the_librarys_size_check(online_hub, tmp_path):
    data = _shapes_only_checkpoint(tmp_path / "served.pt", "hiera_t")
    with HubStandIn({TINY: data}, claimed_sizes={TINY: len(data) + 1000}) as hub:
        with pytest.raises(FetchError, match="downloading facebook/sam2.1-hiera-tiny/sam2.1_hiera_tiny.pt failed"):
            fetch_official_checkpoint("hiera_t", endpoint=hub.url, timeout_s=2)
        choice = choose_sam2("auto", "cpu", fetch=True, endpoint=hub.url, fetch_timeout_s=2)
    assert choice.random and "could not be fetched" in choice.weights


def test_a_corrupt_download_is_fetched_again_then_refused_with_a_clear_message(online_hub):
    with HubStandIn({TINY: b"not a checkpoint" * 100}) as hub:
        choice = choose_sam2("auto", "cpu", fetch=True, endpoint=hub.url, fetch_timeout_s=2)
        assert hub.gets() == 2  # the cached bad copy is replaced by a fresh download once
    assert choice.random and "unusable even when downloaded again" in choice.weights
    assert "could not be read safely" in choice.weights and TINY[1] in choice.weights


def test_weights_download_script_takes_the_same_route(online_hub, tmp_path, capsys):
    import hashlib

    from sam2refiner.weights import download

    data = _shapes_only_checkpoint(tmp_path / "served.pt", "hiera_t")
    with HubStandIn({TINY: data}) as hub:
        assert download.main(["hiera_t", "--to", str(tmp_path / "w"), "--endpoint", hub.url]) == 0
    assert (tmp_path / "w" / TINY[1]).read_bytes() == data
    assert hashlib.sha256(data).hexdigest() in capsys.readouterr().out
    with SilentServer() as silent:  # unreachable: a message and exit status 1, quickly
        assert download.main(["hiera_s", "--endpoint", silent.url, "--timeout", "0.5"]) == 1
    assert "could not be reached" in capsys.readouterr().err
