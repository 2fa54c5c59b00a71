"""The official SAM 2.1 checkpoints: fetched from the Hugging Face Hub by the route sam2's ``build_sam2_hf`` takes,
read safely, and loaded strictly into a SAM 2 model.

    path = fetch_official_checkpoint("hiera_t")       # facebook/sam2.1-hiera-tiny / sam2.1_hiera_tiny.pt
    sha256 = load_official_checkpoint(sam2, path)     # {"model": state_dict}, weights_only, strict

Download, cache (``HF_HOME`` / ``HF_HUB_CACHE``), resume of a partial file, progress bar and the size check are
``huggingface_hub``'s (``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` apply). What this module adds is a fast "no":
the cache is asked first without any network, then the Hub gets one metadata request with a short timeout and
no retries, so an offline or firewalled machine hears "not available" at once instead of sitting in the
library's minute-long retry for a file it has never cached.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES

from ..config import SAM2_CONFIGS
from ..errors import CheckpointError
from .digest import file_sha256


class FetchError(Exception):
    """The official checkpoint could not be had; the message says why."""


def _official_files() -> dict[str, tuple[str, str]]:
    """config -> (Hub repository, file name), read from sam2's own table (matched on the config file)."""
    by_config_file = {config_file: (repo, name) for repo, (config_file, name) in HF_MODEL_ID_TO_FILENAMES.items()}
    return {config: by_config_file[config_file] for config, config_file in SAM2_CONFIGS.items()}


OFFICIAL_FILES = _official_files()


def official_file(config: str) -> tuple[str, str]:
    if config not in OFFICIAL_FILES:
        raise ValueError(f"config: no official checkpoint for {config!r}; choose one of {sorted(OFFICIAL_FILES)}")
    return OFFICIAL_FILES[config]


def fetch_official_checkpoint(
    config: str,
    timeout_s: float = 3.0,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    force: bool = False,
) -> Path:
    """The local path of the official SAM 2.1 file for ``config``, downloading it if needed (``force``: again,
    over a cached copy found to be corrupt). Raises ``FetchError``."""
    repo, name = official_file(config)
    where = dict(cache_dir=cache_dir, local_dir=local_dir)
    if not force:
        try:  # a file fetched before: no network at all (official checkpoints never change under their name)
            return Path(hf_hub_download(repo, name, local_files_only=True, **where))
        except LocalEntryNotFoundError:
            pass
    try:
        get_hf_file_metadata(hf_hub_url(repo, name, endpoint=endpoint), timeout=timeout_s, endpoint=endpoint)
    except OfflineModeIsEnabled as e:
        raise FetchError(f"{repo}/{name} is not in the local cache and HF_HUB_OFFLINE is set") from e
    except Exception as e:  # noqa: BLE001  (DNS, refused, timeout, proxy, 4xx/5xx: all mean "not now")
        raise FetchError(
            f"the Hugging Face Hub could not be reached for {repo}/{name} (timeout {timeout_s:g} s): "
            f"{type(e).__name__}: {e}"
        ) from e
    try:
        return Path(
            hf_hub_download(repo, name, etag_timeout=timeout_s, endpoint=endpoint, force_download=force, **where)
        )
    except Exception as e:  # noqa: BLE001  (a broken transfer, the library's size check, a full disk)
        raise FetchError(f"downloading {repo}/{name} failed: {type(e).__name__}: {e}") from e


def read_official_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of an official SAM 2 checkpoint (memory-mapped: reading shapes costs nothing).

    Raises ``CheckpointError`` for a missing, unreadable or differently laid out file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"SAM 2 checkpoint not found: {path} (see weights/README.md for where to get it)")
    try:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # a legacy (non-zip) file cannot be mapped; anything else is a bad file
                raise
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch's own text here suggests weights_only=False: not for a served file
        raise CheckpointError(
            f"SAM 2 checkpoint {path} could not be read safely: it is corrupt, truncated or not a "
            f"plain-tensor PyTorch file (torch.load with weights_only=True refused it)"
        ) from e
    except Exception as e:  # a truncated zip, an I/O error
        raise CheckpointError(f"SAM 2 checkpoint {path} could not be read safely: {e}") from e
    if not isinstance(blob, dict) or not isinstance(blob.get("model"), dict):
        raise CheckpointError(
            f"SAM 2 checkpoint {path} is not in the official format (a dict with a 'model' state dict)"
        )
    return blob["model"]


def load_official_checkpoint(module: torch.nn.Module, path: str | Path) -> str:
    """Loads an official SAM 2 checkpoint strictly; returns its sha256. Raises ``CheckpointError``."""
    state = read_official_state_dict(path)
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        for name, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
                parts.append(f"{len(keys)} {name} keys: {', '.join(keys[:5])}{more}")
        raise CheckpointError(f"SAM 2 checkpoint {path} does not fit this config: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)
    return file_sha256(path)


__all__ = [
    "FetchError",
    "OFFICIAL_FILES",
    "fetch_official_checkpoint",
    "official_file",
    "read_official_state_dict",
    "load_official_checkpoint",
]
