"""The streaming tracker's state: a plain dataclass of tensors, everything the next frame needs and nothing more.

Shapes (S = image_size, h = S/16, C = 256 (hidden), D = 64 (memory dim)):
    FrameMemory.maskmem_features  [1, D, h, h] bfloat16 (as sam2's video predictor stores it), or None once the
                                  frame is too old for memory attention (its pointer may still be read)
    FrameMemory.obj_ptr           [1, C] float32
    FrameMemory.object_score_logits [1, 1] float32
    TrackerState.maskmem_pos_enc  [1, D, h, h]: the memory's spatial encoding, the same for every frame and object,
                                  so it is held once per session (sam2 keeps it in ``inference_state["constants"]``)
    ObjectTrack.first_coords/labels [1, P, 2] / [1, P] in encoder pixels: the object's first prompt (for PR)
    ObjectTrack.mask_logits       [1, 1, S/4, S/4]: the object's low-res logits on the current frame, the mask
                                  prompt a correction click on this frame is combined with (as sam2 does)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..config import RefinerSwitches


@dataclass
class FrameMemory:
    """One object's output on one frame, as SAM 2's memory attention reads it later."""

    obj_ptr: torch.Tensor
    object_score_logits: torch.Tensor
    maskmem_features: torch.Tensor | None

    def as_sam2_output(self, maskmem_pos_enc: torch.Tensor) -> dict:
        """The dict layout of sam2's ``output_dict`` entries."""
        return {
            "maskmem_features": self.maskmem_features,
            "maskmem_pos_enc": [maskmem_pos_enc],
            "obj_ptr": self.obj_ptr,
            "object_score_logits": self.object_score_logits,
        }


@dataclass
class ObjectTrack:
    obj_id: int
    start_frame: int
    cond: dict[int, FrameMemory] = field(default_factory=dict)  # conditioning (prompted) frames
    non_cond: dict[int, FrameMemory] = field(default_factory=dict)  # tracked frames still in reach
    first_coords: torch.Tensor | None = None
    first_labels: torch.Tensor | None = None
    mask_logits: torch.Tensor | None = None

    def frames(self) -> list[tuple[str, int, FrameMemory]]:
        return [("cond", t, m) for t, m in sorted(self.cond.items())] + [
            ("non_cond", t, m) for t, m in sorted(self.non_cond.items())
        ]


@dataclass
class TrackerState:
    """A session's tracking state after ``frame_idx`` (-1: no frame seen yet)."""

    switches: RefinerSwitches = field(default_factory=RefinerSwitches.off)
    frame_idx: int = -1
    orig_hw: tuple[int, int] | None = None
    objects: dict[int, ObjectTrack] = field(default_factory=dict)  # by client object id, in order of arrival
    maskmem_pos_enc: torch.Tensor | None = None

    def nbytes(self) -> int:
        total = 0 if self.maskmem_pos_enc is None else _nbytes(self.maskmem_pos_enc)
        for obj in self.objects.values():
            for t in (obj.first_coords, obj.first_labels, obj.mask_logits):
                total += _nbytes(t)
            for _, _, mem in obj.frames():
                total += _nbytes(mem.obj_ptr) + _nbytes(mem.object_score_logits) + _nbytes(mem.maskmem_features)
        return total


def _nbytes(t: torch.Tensor | None) -> int:
    return 0 if t is None else t.numel() * t.element_size()
