"""Resumable training state: refiner weights, optimizer, schedule and step - plain tensors and numbers only.

Written with ``torch.save`` of a dict of tensors / ints / floats / strings and read back with
``weights_only=True``, so loading a state file never runs pickled code. SAM 2's weights are never saved (they
are frozen and come from the user's official checkpoint).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

FORMAT = "sam2refiner-train-state"
VERSION = 1
# Config fields that must match for a resume to make sense (the rest, e.g. max_steps, may change).
MODEL_FIELDS = ("sam2_config", "image_size", "modules")


class TrainStateError(ValueError):
    pass


def save_train_state(path: Path, model, optimizer, scheduler, step: int, epoch: int, config: dict) -> None:
    """Atomically (write + rename) saves the state, so an interrupted save never leaves a broken last.pt."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "epoch": int(epoch),
        "config": json.dumps(config, sort_keys=True),
        "refiner": {k: v.detach().cpu() for k, v in model.refiner_state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_train_state(path: Path, model, optimizer, scheduler, config: dict) -> tuple[int, int]:
    """Restores the state into ``model``/``optimizer``/``scheduler``; returns (step, epoch).

    Refuses files of another format or made for another model (config, size or modules).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        raise TrainStateError(f"training state {path} cannot be read safely: {e}") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("version") != VERSION:
        raise TrainStateError(f"{path} is not a {FORMAT} v{VERSION} file")
    saved = json.loads(state["config"])
    diffs = [
        f"{k}: saved {saved.get(k)!r}, now {config.get(k)!r}" for k in MODEL_FIELDS if saved.get(k) != config.get(k)
    ]
    if diffs:
        raise TrainStateError(f"training state {path} was made for another model: " + "; ".join(diffs))
    expected = model.refiner_state_dict()
    if set(expected) != set(state["refiner"]):
        raise TrainStateError(f"training state {path}: refiner tensors do not match this model")
    with torch.no_grad():
        for k, v in expected.items():
            v.copy_(state["refiner"][k].to(v.device, v.dtype))
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"]), int(state["epoch"])


__all__ = ["save_train_state", "load_train_state", "TrainStateError"]
