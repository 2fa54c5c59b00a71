"""What ``segment`` returns: every object's masks decoded to numpy, with the answer as it came."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ObjectMasks:
    masks: np.ndarray  # bool [M, H, W]: one mask, or three with multimask
    scores: np.ndarray  # float [M]: the predicted IoU of each
    logits_ids: list[str]  # per mask: the id to send back as mask_logits_id for a corrective click

    @property
    def best(self) -> np.ndarray:
        """The mask with the highest score, bool [H, W]."""
        return self.masks[int(np.argmax(self.scores))]


@dataclass
class SegmentResult:
    image_id: str
    height: int
    width: int
    objects: list[ObjectMasks]
    timings_ms: dict
    raw: dict  # the answer's JSON
    stage: str = "refined"  # "sam2" (SAM 2's masks) or "refined"; a streamed answer says which part this is
    final: bool = True  # the last part of a streamed answer (always True when not streamed)
