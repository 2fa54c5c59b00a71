"""SAM 2's tracking step for several objects of one frame in one batch, every step sam2's own code.

    memories = [gather_memory(sam2, frame_idx=t, ..., output_dict=d, num_frames=n) for d in per_object_dicts]
    pix_feat = attend_memories(sam2, memories, feat_sizes)          # memory attention, batched where it can be
    with memory_conditioned(sam2, pix_feat):                        # sam2's _track_step on all objects at once
        _, sam_outputs, _, _ = track_step(sam2, ..., current_vision_feats=<batch of B>, output_dict=<any>)

sam2's video predictor runs each object on its own (``output_dict_per_obj``), and so did our tracker: N objects
cost N memory attentions, N decoder passes and N memory encodings. Here each object's memory is gathered by sam2's
``_prepare_memory_conditioned_features`` itself (stopped, by a forward pre-hook, just before it calls memory
attention: ``gather_memory``); objects whose memories have the same number of tokens (and object-pointer tokens)
go through memory attention as one batch (their positional encodings are per object anyway); then sam2's
``_track_step`` runs the SAM heads on the whole batch, handed the memory-conditioned features it would otherwise
compute per object (``memory_conditioned``). Both hooks hold only for the block they are used in and only for the
thread that uses them: the device worker's two threads may drive one model at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..runtime import this_thread_only
from .private import prepare_memory_conditioned_features


@dataclass
class ObjectMemory:
    """What sam2 hands memory attention for one object on one frame (batch 1, sequence-first)."""

    curr: torch.Tensor  # [HW, 1, C] the frame's stride-16 feature
    curr_pos: torch.Tensor  # [HW, 1, C]
    memory: torch.Tensor  # [L, 1, D] spatial memories then object-pointer tokens
    memory_pos: torch.Tensor  # [L, 1, D]
    num_obj_ptr_tokens: int

    @property
    def layout(self) -> tuple[int, int]:
        """Objects with equal layouts go through memory attention together."""
        return self.memory.shape[0], self.num_obj_ptr_tokens


class _Gathered(Exception):
    def __init__(self, kwargs: dict):
        self.kwargs = kwargs


def gather_memory(
    sam2, *, frame_idx: int, current_vision_feats, current_vision_pos_embeds, feat_sizes, output_dict, num_frames
) -> ObjectMemory | None:
    """One object's memory on frame ``frame_idx`` (a tracked frame, not its initial conditioning frame), gathered
    by sam2's ``_prepare_memory_conditioned_features`` without running memory attention; None when sam2 would
    not run memory attention for it (no memory at all)."""

    def stop(_module, _args, kwargs):
        raise _Gathered(kwargs)

    handle = sam2.memory_attention.register_forward_pre_hook(this_thread_only(stop), with_kwargs=True)
    try:
        prepare_memory_conditioned_features(
            sam2,
            frame_idx=frame_idx,
            is_init_cond_frame=False,
            current_vision_feats=current_vision_feats[-1:],
            current_vision_pos_embeds=current_vision_pos_embeds[-1:],
            feat_sizes=feat_sizes[-1:],
            output_dict=output_dict,
            num_frames=num_frames,
            track_in_reverse=False,
        )
    except _Gathered as gathered:
        kw = gathered.kwargs
        return ObjectMemory(kw["curr"][0], kw["curr_pos"][0], kw["memory"], kw["memory_pos"], kw["num_obj_ptr_tokens"])
    finally:
        handle.remove()
    return None


def attend_memories(sam2, memories: list[ObjectMemory], feat_sizes) -> torch.Tensor:
    """sam2's memory attention for every object, one call per memory layout; returns the memory-conditioned
    features [N, C, H, W] in the order of ``memories``, as ``_prepare_memory_conditioned_features`` shapes them."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, m in enumerate(memories):
        groups[m.layout].append(i)
    h, w = feat_sizes[-1]
    out: list[torch.Tensor | None] = [None] * len(memories)
    for (_, num_ptr_tokens), members in groups.items():
        first, n = memories[members[0]], len(members)
        attended = sam2.memory_attention(
            curr=[first.curr.expand(-1, n, -1)],
            curr_pos=[first.curr_pos.expand(-1, n, -1)],
            memory=torch.cat([memories[i].memory for i in members], dim=1),
            memory_pos=torch.cat([memories[i].memory_pos for i in members], dim=1),
            num_obj_ptr_tokens=num_ptr_tokens,
        )
        attended = attended.permute(1, 2, 0).reshape(n, sam2.hidden_dim, h, w)  # (HW)BC -> BCHW, as sam2
        for j, i in enumerate(members):
            out[i] = attended[j : j + 1]
    return torch.cat(out)


@contextmanager
def memory_conditioned(sam2, pix_feat: torch.Tensor):
    """Inside the block, sam2's ``_track_step`` takes ``pix_feat`` [N, C, H, W] as the memory-conditioned feature
    of its batch instead of computing it (``attend_memories`` did, per object). Other threads are not affected."""
    _route_memory_conditioning(sam2)
    overrides = _overrides.__dict__.setdefault("pix_feat", {})
    overrides[id(sam2)] = pix_feat
    try:
        yield
    finally:
        del overrides[id(sam2)]


_overrides = threading.local()  # per thread: id(sam2) -> the memory-conditioned features its _track_step takes
_route_lock = threading.Lock()


def _route_memory_conditioning(sam2) -> None:
    """Once per model: its ``_prepare_memory_conditioned_features`` answers the calling thread's override, if any,
    else runs sam2's own method."""
    with _route_lock:
        if "_prepare_memory_conditioned_features" in vars(sam2):
            return
        original = sam2._prepare_memory_conditioned_features  # the bound method of sam2's class

        def routed(*args, **kwargs):
            override = getattr(_overrides, "pix_feat", {}).get(id(sam2))
            return original(*args, **kwargs) if override is None else override

        sam2._prepare_memory_conditioned_features = routed


__all__ = ["ObjectMemory", "attend_memories", "gather_memory", "memory_conditioned"]
