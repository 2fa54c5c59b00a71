"""Training configuration: one flat dataclass, read from a YAML file (configs/*.yaml) plus ``key=value`` overrides.

The defaults are the paper's recipe (sec. 3.3 / 4.1): hiera_l at 1024, HQSeg-44K, AdamW lr 1e-3 with a step
decay, 20 epochs, total batch 32 (4 per GPU on 8 GPUs), loss weights 1.0 / 0.3.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sam2refiner.model.config import SAM2_CONFIGS, RefinerSwitches, check_image_size


@dataclass
class TrainConfig:
    # model
    sam2_config: str = "hiera_l"
    image_size: int = 1024
    sam2_checkpoint: str | None = None  # None: random SAM 2 (tests and smoke runs only)
    modules: dict = field(default_factory=lambda: {"la": True, "pr": True, "mr": True})
    init_refiner: str | None = None  # start from these refiner weights (a save_refiner_checkpoint file)
    # data
    data: str = "manifest"  # "manifest" (folders named in `manifest`) or "synthetic"
    manifest: str | None = None
    train_sets: list | None = None  # names from the manifest's train section; None: all of them
    synthetic_images: int = 64  # with data: synthetic
    synthetic_seed: int = 0
    synthetic_objects: int | None = None  # objects per synthetic image (None: 1-3)
    max_side: int | None = None  # originals are downscaled to this side at most (None: 2 x image_size)
    augment_prob: float = 1.0  # share of samples flipped / zoomed; the rest can use the feature cache
    feature_cache_mb: int = 0  # CPU RAM for cached frozen-encoder outputs of un-augmented samples
    num_workers: int = 4
    # optimisation
    epochs: int = 20
    max_steps: int | None = None  # stop early (smoke runs); the schedule still spans `epochs` unless set
    batch_size: int = 4  # images per process and step
    prompts_per_object: int = 1  # prompt sets sampled per object and step (they share one encoder pass)
    max_objects: int = 8  # objects per image and step at most (the rest are skipped that step)
    lr: float = 1e-3
    weight_decay: float = 0.01
    schedule: str = "step"  # "step": x gamma at lr_drop_epoch; "cosine"; "constant"
    lr_drop_epoch: int = 15
    lr_gamma: float = 0.1
    warmup_steps: int = 0
    grad_clip: float | None = 1.0
    loss_final: float = 1.0
    loss_intermediate: float = 0.3
    amp: str = "auto"  # "auto": bf16 autocast on CUDA, fp32 on CPU; "off"
    # bookkeeping
    seed: int = 0
    out_dir: str = "runs/sam2refiner"
    log_every: int = 10
    checkpoint_every: int = 500  # steps; a checkpoint is also written at every epoch end and at the end
    resume: str | None = "auto"  # "auto": out_dir/checkpoints/last.pt if present; a path; or None
    progress: bool = True

    def __post_init__(self):
        if self.sam2_config not in SAM2_CONFIGS:
            raise ValueError(f"sam2_config: unknown {self.sam2_config!r}; choose one of {sorted(SAM2_CONFIGS)}")
        check_image_size(self.image_size)
        if self.data not in ("manifest", "synthetic"):
            raise ValueError(f"data: expected 'manifest' or 'synthetic', got {self.data!r}")
        if self.data == "manifest" and not self.manifest:
            raise ValueError("manifest: data is 'manifest' but no manifest file was given (or use data: synthetic)")
        if self.schedule not in ("step", "cosine", "constant"):
            raise ValueError(f"schedule: expected step, cosine or constant, got {self.schedule!r}")
        if self.amp not in ("auto", "off"):
            raise ValueError(f"amp: expected auto or off, got {self.amp!r}")
        for name in ("epochs", "batch_size", "prompts_per_object", "max_objects", "log_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.augment_prob <= 1.0:
            raise ValueError(f"augment_prob: must be within [0, 1], got {self.augment_prob}")
        if self.lr <= 0:
            raise ValueError(f"lr: must be positive, got {self.lr}")
        unknown = set(self.modules) - {"la", "pr", "mr"}
        if unknown:
            raise ValueError(f"modules: unknown switches {sorted(unknown)}; use la, pr, mr")

    @property
    def switches(self) -> RefinerSwitches:
        return RefinerSwitches(**{k: bool(v) for k, v in self.modules.items()})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _parse_value(text: str):
    return yaml.safe_load(text)


def load_train_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """YAML file (optional) then ``key=value`` overrides (values parsed as YAML: 1e-3, true, [a, b], null)."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config: {path} does not exist")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"config: {path} must be a mapping of option: value")
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected key=value")
        key, text = item.split("=", 1)
        if key.startswith("modules."):
            values.setdefault("modules", {"la": True, "pr": True, "mr": True})
            values["modules"] = {**values["modules"], key.split(".", 1)[1]: _parse_value(text)}
        else:
            values[key.strip()] = _parse_value(text)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"config: unknown options {unknown}; known: {sorted(known)}")
    return TrainConfig(**values)


__all__ = ["TrainConfig", "load_train_config"]
