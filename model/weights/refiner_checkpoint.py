"""Refiner checkpoints: only the trained modules, as safetensors with a JSON header.

    checkpoint = read_refiner_checkpoint("runs/x/refiner.safetensors")   # read (and hashed) once
    checkpoint.config.sam2_config                                        # what it was made for
    load_refiner_weights(model, checkpoint)                              # strict; nothing is read again

Nothing is ever unpickled: tensors come from safetensors, and what the checkpoint was made for (SAM 2 config,
image_size, module switches, format version) is JSON in the safetensors metadata. A refiner made for another
config is refused with a message that says what differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..config import RefinerConfig
from ..errors import CheckpointError
from .digest import file_sha256

FORMAT = "sam2refiner"
FORMAT_VERSION = 2  # 2: Mask Refinement has no activation after its last transposed conv


@dataclass(frozen=True)
class RefinerCheckpoint:
    """A refiner checkpoint as read from its file: what it was made for, its tensors and the file's sha256."""

    path: Path
    config: RefinerConfig
    state: dict[str, torch.Tensor]
    header: dict
    sha256: str


def save_refiner_checkpoint(model, path: str | Path, extra: dict | None = None) -> str:
    """Writes ``model.refiner_state_dict()`` and its config; returns the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.refiner_state_dict().items()}
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.config.as_dict(),
        "extra": extra or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp), metadata={"sam2refiner": json.dumps(header)})
    tmp.replace(path)  # atomic: a crash never leaves half a checkpoint under the real name
    return file_sha256(path)


def read_refiner_checkpoint(path: str | Path) -> RefinerCheckpoint:
    """The checkpoint at ``path``, header checked. Raises ``CheckpointError``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"refiner checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:  # one opening: the header and the tensors
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"refiner checkpoint {path} is not a readable safetensors file: {e}") from e
    try:
        header = json.loads(meta["sam2refiner"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(
            f"refiner checkpoint {path} has no SAM2Refiner header (was it written by save_refiner_checkpoint?)"
        ) from e
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"refiner checkpoint {path} has format {header.get('format')!r} v{header.get('format_version')}; "
            f"this build reads {FORMAT!r} v{FORMAT_VERSION}"
        )
    return RefinerCheckpoint(path, RefinerConfig.from_dict(header["config"]), state, header, file_sha256(path))


def check_compatible(found: RefinerConfig, expected: RefinerConfig, path) -> None:
    diffs = [
        f"{name}: checkpoint has {getattr(found, name)!r}, model has {getattr(expected, name)!r}"
        for name in ("sam2_config", "image_size", "modules", "mr_channels")
        if getattr(found, name) != getattr(expected, name)
    ]
    if diffs:
        raise CheckpointError(f"refiner checkpoint {path} was made for another model: " + "; ".join(diffs))


def load_refiner_weights(model, checkpoint: RefinerCheckpoint) -> str:
    """Loads a checkpoint (from ``read_refiner_checkpoint``) into ``model`` strictly; returns its sha256."""
    path, state = checkpoint.path, checkpoint.state
    check_compatible(checkpoint.config, model.config, path)
    expected = model.refiner_state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"refiner checkpoint {path} does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    with torch.no_grad():
        for k, v in expected.items():
            if v.shape != state[k].shape:
                raise CheckpointError(
                    f"refiner checkpoint {path}: {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}"
                )
            v.copy_(state[k].to(v.dtype))
    return checkpoint.sha256


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "RefinerCheckpoint",
    "check_compatible",
    "load_refiner_weights",
    "read_refiner_checkpoint",
    "save_refiner_checkpoint",
]
