"""What a SAM2Refiner is made of: the SAM 2.1 config it sits on, its input size and its module switches.

The same dataclasses travel inside refiner checkpoints (as JSON) so a checkpoint can say what it was made for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import InvalidInputError

# SAM 2.1 configs shipped in the sam2 package, by the short names users type.
SAM2_CONFIGS = {
    "hiera_t": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "hiera_s": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "hiera_b+": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "hiera_l": "configs/sam2.1/sam2.1_hiera_l.yaml",
}

# Official checkpoint file names (see weights/README.md).
SAM2_CHECKPOINT_NAMES = {
    "hiera_t": "sam2.1_hiera_tiny.pt",
    "hiera_s": "sam2.1_hiera_small.pt",
    "hiera_b+": "sam2.1_hiera_base_plus.pt",
    "hiera_l": "sam2.1_hiera_large.pt",
}


def check_image_size(image_size: int) -> None:
    """SAM 2 needs the stride-16 map to tile into Hiera's windows and the stride-4 map to split into 8s."""
    if image_size % 32 != 0 or (image_size // 4) % 8 != 0 or image_size < 128:
        raise ValueError(
            f"image_size: {image_size} is not supported; use a multiple of 32 of at least 128 (e.g. 256, 512, 1024)"
        )


@dataclass(frozen=True)
class RefinerSwitches:
    """Which of the paper's three modules run. All off makes the model exactly SAM 2."""

    la: bool = True  # Localization Augment (sec. 3.2.1)
    pr: bool = True  # Prompt Retargeting (sec. 3.2.2)
    mr: bool = True  # Mask Refinement (sec. 3.2.3)

    @classmethod
    def off(cls) -> RefinerSwitches:
        return cls(False, False, False)

    @classmethod
    def resolve(cls, refine, built: RefinerSwitches) -> RefinerSwitches:
        """A ``refine=`` argument (True: the ``built`` modules, False: none, or RefinerSwitches) as switches."""
        if isinstance(refine, RefinerSwitches):
            return refine
        if isinstance(refine, bool):
            return built if refine else cls.off()
        raise InvalidInputError("refine", f"expected True, False or RefinerSwitches, got {refine!r}")

    def any(self) -> bool:
        return self.la or self.pr or self.mr

    def __and__(self, other: RefinerSwitches) -> RefinerSwitches:
        return RefinerSwitches(self.la and other.la, self.pr and other.pr, self.mr and other.mr)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RefinerConfig:
    """Everything needed to rebuild the same SAM2Refiner (and to refuse a checkpoint made for another)."""

    sam2_config: str = "hiera_l"
    image_size: int = 1024
    modules: RefinerSwitches = field(default_factory=RefinerSwitches)
    # Clicks are drawn on the dense prompt map as discs of this radius, as a fraction of the map side
    # (5 px on the 256x256 map at image_size 1024, i.e. 20 px of the encoder's input).
    click_radius: float = 5 / 256
    # Channels of the Mask Refinement decoder stages (S/16, S/8, S/4, then S/2 and S).
    mr_channels: tuple = (64, 32, 16, 16)

    def __post_init__(self):
        if self.sam2_config not in SAM2_CONFIGS:
            raise ValueError(f"sam2_config: unknown config {self.sam2_config!r}; choose one of {sorted(SAM2_CONFIGS)}")
        check_image_size(self.image_size)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mr_channels"] = list(self.mr_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RefinerConfig:
        d = dict(d)
        d["modules"] = RefinerSwitches(**d.get("modules", {}))
        if "mr_channels" in d:
            d["mr_channels"] = tuple(d["mr_channels"])
        return cls(**d)
