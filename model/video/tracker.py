"""Frame-at-a-time tracking on SAM 2's memory bank, with the refiner inside the loop.

    tracker = StreamingTracker(model)                        # a SAM2Refiner (build it with video=True)
    state = tracker.new_state(refine=False)
    feats = tracker.encode_frame(frame)                      # uint8 [H, W, 3]; the encoder runs once per frame
    state, result = tracker.step(state, feats)               # tracks every object into the new frame
    state, result = tracker.prompt(state, feats, [TrackPrompt(1, points=[[x, y]], labels=[1])])

``step`` and ``prompt`` are pure: they return a new state and never modify the one passed in, so a caller
whose save fails still holds the last good state. Every SAM 2 operation is sam2's own method
(``_track_step``, ``_encode_new_memory``, ``_prepare_memory_conditioned_features`` via ``_track_step``), called
through ``model/sam2_compat`` with keyword arguments; the choices this module makes are written down in
``docs/video-tracker.md``.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RefinerSwitches
from ..errors import InvalidInputError
from ..prompts import check_boxes, check_mask_size, check_object_prompts, check_points, prompt_tokens
from ..runtime import StageTimer, inference_context
from ..sam2_compat import (
    NO_OBJ_SCORE,
    SAM2_VIDEO_FILL_HOLE_AREA,
    attend_memories,
    capture_decoder,
    encode_new_memory,
    fill_holes,
    gather_memory,
    memory_conditioned,
    prepare_backbone_features,
    track_step,
)
from ..sam2refiner import SAM2Refiner
from ..transforms import prepare_image
from .state import FrameMemory, ObjectTrack, TrackerState

# SAM 2 sizes its pointer window by min(video length, max_obj_ptrs_in_encoder); a stream has no known length,
# so it is taken as unbounded (the same as any video at least max_obj_ptrs_in_encoder frames long).
STREAM_LENGTH = 1 << 31


@dataclass
class FrameFeatures:
    """One frame's encoder outputs in sam2's tracking layout ((HW) x B x C per level, B = 1).

    vision_feats   SAM 2's own features: stride 4, 8 (projected for the decoder) and 16
    refined_feat   [(h*h), 1, C] the stride-16 feature after Localization Augment, or None
    mr_image_term  [1, 1, S, S] Mask Refinement's per-image term (``MaskRefinement.image_term``), or None
    """

    vision_feats: list[torch.Tensor]
    vision_pos: list[torch.Tensor]
    feat_sizes: list[tuple[int, int]]
    refined_feat: torch.Tensor | None
    mr_image_term: torch.Tensor | None
    orig_hw: tuple[int, int]

    def decoder_feats(self, use_la: bool) -> list[torch.Tensor]:
        """What memory attention and the decoder see: LA's stride-16 feature when LA is on."""
        if use_la and self.refined_feat is not None:
            return [*self.vision_feats[:-1], self.refined_feat]
        return self.vision_feats


@dataclass
class TrackPrompt:
    """A prompt for one object on the current frame, in original-frame pixels.

    points [P, 2] (x, y) with labels [P] (1 positive, 0 negative); box [4] (x0, y0, x1, y1); mask [H, W] bool.
    Points and box may be combined; a mask goes alone (SAM 2 takes it as the object's mask on this frame).
    """

    obj_id: int
    points: list | np.ndarray | None = None
    labels: list | np.ndarray | None = None
    box: list | np.ndarray | None = None
    mask: np.ndarray | None = None


@dataclass
class TrackedObject:
    """One object's answer on a tracked frame."""

    obj_id: int
    logits: torch.Tensor  # [H, W] float32 at the frame's original size; the mask is logits > 0
    score: float  # SAM 2's predicted IoU of the returned mask (1.0 for a mask prompt)
    object_score: float  # SAM 2's object-presence logit
    visible: bool


@dataclass
class FrameResult:
    frame_idx: int
    objects: list[TrackedObject]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def _inference(method):
    """Runs a tracker method under the inference context (``runtime.inference_context``: inference mode; bf16
    autocast on CUDA), the same device policy as the image path."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with inference_context(self.model.device):
            return method(self, *args, **kwargs)

    return wrapper


class StreamingTracker:
    def __init__(
        self,
        model: SAM2Refiner,
        max_cond_frames: int = 16,
        fill_hole_area: int = SAM2_VIDEO_FILL_HOLE_AREA,
        batch_objects: bool = True,
    ):
        """``fill_hole_area``: background holes of at most this many low-res pixels are filled, as sam2's video
        builder sets it (``model/sam2_compat/fill_holes.py``); 0 turns it off. ``batch_objects``: a new frame
        tracks all objects together (decoder, refiner and memory encoder in one batch, memory attention per
        memory layout); False runs them one by one, as sam2's video predictor does (the same results)."""
        if max_cond_frames < 2:
            raise ValueError("max_cond_frames: keep at least 2 conditioning frames (the first and the latest)")
        self.model = model
        self.sam = model.sam2
        self.max_cond_frames = max_cond_frames
        self.fill_hole_area = fill_hole_area
        self.batch_objects = batch_objects

    # ------------------------------------------------------------------ state
    def new_state(self, refine: bool | RefinerSwitches = True) -> TrackerState:
        return TrackerState(
            switches=RefinerSwitches.resolve(refine, self.model.config.modules) & self.model.config.modules
        )

    def encode_frame(self, frame, switches: RefinerSwitches | None = None) -> FrameFeatures:
        """Runs the image encoder on one uint8 RGB frame [H, W, 3] (with LA's quadrants when LA is on)."""
        return self.encode_frames([frame], switches)[0]

    @_inference
    def encode_frames(self, frames: list, switches: RefinerSwitches | None = None) -> list[FrameFeatures]:
        """Encodes several frames (of one video or of several, any sizes) in one encoder batch: each frame's
        features as ``encode_frame`` gives them."""
        switches = self.model.active_switches(switches)
        size = self.model.image_size
        prepared = [prepare_image(f, size, self.model.device, argument="frame") for f in frames]
        images = torch.stack([enc for enc, _, _ in prepared])
        bb = self.model.encode_backbone(images, [full for _, full, _ in prepared], quadrants=switches.la)
        backbone_out = {"backbone_fpn": [*bb.high_res, bb.global_feat], "vision_pos_enc": bb.vision_pos}
        _, feats, pos, sizes = prepare_backbone_features(self.sam, backbone_out=backbone_out)
        refined = None
        if switches.la:
            refined = self.model.localization_augment(bb.global_feat, bb.local_feats).flatten(2).permute(2, 0, 1)
        mr_term = self.model.mask_refinement.image_term(bb.image) if switches.mr else None
        pos = [p[:, :1] for p in pos]  # the same for every frame
        out = []
        for i, (_, _, orig_hw) in enumerate(prepared):
            one = slice(i, i + 1)  # each frame's own tensors: a session keeps them while the batch is gone
            out.append(
                FrameFeatures(
                    [f[:, one].contiguous() for f in feats] if len(frames) > 1 else feats,
                    pos,
                    sizes,
                    None if refined is None else refined[:, one].contiguous(),
                    None if mr_term is None else mr_term[one].contiguous(),
                    orig_hw,
                )
            )
        return out

    # ------------------------------------------------------------------ frames and prompts
    @_inference
    def step(
        self, state: TrackerState, feats: FrameFeatures, prompts: list[TrackPrompt] = ()
    ) -> tuple[TrackerState, FrameResult]:
        """Advances to a new frame: tracks every object into it, then applies ``prompts`` on it."""
        timer = StageTimer(self.model.device, {})
        state = _copy_state(state, self.model.device)
        state.frame_idx += 1
        state.orig_hw = feats.orig_hw
        logits: dict[int, tuple] = {}
        for obj in state.objects.values():
            obj.mask_logits = None
        if self.batch_objects and len(state.objects) > 1:
            logits.update(self._track_together(state, list(state.objects.values()), feats, timer))
        else:
            for obj in state.objects.values():
                logits[obj.obj_id] = self._run(state, obj, feats, timer)
        if prompts:
            state, prompted = self._apply_prompts(state, feats, prompts, timer)
            logits.update(prompted)
        return state, self._result(state, logits, timer)

    @_inference
    def prompt(
        self, state: TrackerState, feats: FrameFeatures, prompts: list[TrackPrompt]
    ) -> tuple[TrackerState, FrameResult]:
        """Applies prompts on the current frame (``feats`` must be that frame's); returns the prompted objects' masks."""
        if state.frame_idx < 0:
            raise InvalidInputError("prompt", "no frame has been sent yet: prompts apply to the current frame")
        timer = StageTimer(self.model.device, {})
        state, logits = self._apply_prompts(_copy_state(state, self.model.device), feats, prompts, timer)
        return state, self._result(state, logits, timer)

    def remove_object(self, state: TrackerState, obj_id: int) -> TrackerState:
        if obj_id not in state.objects:
            raise InvalidInputError("obj_id", f"object {obj_id} is not tracked (tracked: {sorted(state.objects)})")
        state = _copy_state(state)
        del state.objects[obj_id]
        return state

    def reset(self, state: TrackerState) -> TrackerState:
        """Forgets every object; the frame counter goes on."""
        return replace(state, objects={})

    # ------------------------------------------------------------------ internals
    def _apply_prompts(self, state, feats, prompts, timer):
        if state.orig_hw is not None and tuple(feats.orig_hw) != tuple(state.orig_hw):
            raise InvalidInputError("frame", "the features are not the current frame's")
        checked = [(p, *self._prompt_inputs(p, state.orig_hw)) for p in prompts]  # validate all before running any
        seen = [p.obj_id for p in prompts]
        if len(set(seen)) != len(seen):
            raise InvalidInputError("obj_id", "one prompt per object per message")
        out = {}
        for p, point_inputs, mask_inputs in checked:
            obj = state.objects.get(p.obj_id)
            if obj is None:
                obj = state.objects[p.obj_id] = ObjectTrack(p.obj_id, start_frame=state.frame_idx)
            if point_inputs is not None and obj.start_frame == state.frame_idx:
                obj.first_coords, obj.first_labels = point_inputs["point_coords"], point_inputs["point_labels"]
            prev = None
            if mask_inputs is None and obj.mask_logits is not None:
                prev = torch.clamp(obj.mask_logits, -32.0, 32.0)  # as sam2's add_new_points_or_box
            out[p.obj_id] = self._run(state, obj, feats, timer, point_inputs, mask_inputs, prev)
            self._cap_cond_frames(obj)
        return state, out

    def _prompt_inputs(self, p: TrackPrompt, orig_hw):
        """(point_inputs, mask_inputs) in sam2's format, validated by the model's one prompt layer (model.prompts)."""
        if p.mask is not None:
            if p.points is not None or p.box is not None:
                raise InvalidInputError("mask", "a mask prompt goes alone, without points or box")
            mask = np.asarray(p.mask)
            check_mask_size(mask.shape, orig_hw, "mask")
            size = self.model.image_size
            m = torch.as_tensor(mask.astype(np.float32), device=self.model.device)[None, None]
            if m.shape[-2:] != (size, size):  # as sam2's add_new_mask
                m = F.interpolate(m, size=(size, size), align_corners=False, mode="bilinear", antialias=True)
                m = (m >= 0.5).float()
            return None, m
        check_object_prompts(p.points, p.labels, p.box, None, names=("point_coords", "point_labels", "box", "mask"))
        points = labels = boxes = None
        if p.points is not None:
            points, labels = check_points(
                p.points, p.labels, orig_hw, points_arg="point_coords", labels_arg="point_labels"
            )
        if p.box is not None:
            boxes = check_boxes(p.box)
        if (points is not None and points.shape[0] != 1) or (boxes is not None and boxes.shape[0] != 1):
            raise InvalidInputError("point_coords", "one object per prompt: give points [P, 2] and at most one box")
        coords, labels = prompt_tokens(points, labels, boxes, orig_hw, self.model.image_size, self.model.device)
        return {"point_coords": coords, "point_labels": labels}, None

    def _run(
        self, state, obj: ObjectTrack, feats: FrameFeatures, timer, point_inputs=None, mask_inputs=None, prev=None
    ):
        """One object on the current frame: sam2's tracking step, the refiner, then the memory encoder."""
        t = state.frame_idx
        prompted = point_inputs is not None or mask_inputs is not None
        is_init = prompted and obj.start_frame == t
        switches = state.switches
        output_dict = _output_dict(state, obj)
        refine = switches.any() and mask_inputs is None
        vision_feats = feats.decoder_feats(switches.la)
        with (
            timer.stage("decode"),
            timer.module(self.sam.memory_attention, "memory_attention"),
            capture_decoder(self.sam) if refine else nullcontext() as capture,
        ):
            _, sam_out, _, _ = track_step(
                self.sam,
                frame_idx=t,
                is_init_cond_frame=is_init,
                current_vision_feats=vision_feats,
                current_vision_pos_embeds=feats.vision_pos,
                feat_sizes=feats.feat_sizes,
                point_inputs=point_inputs,
                mask_inputs=mask_inputs,
                output_dict=output_dict,
                num_frames=STREAM_LENGTH,
                track_in_reverse=False,
                prev_sam_mask_logits=prev,
            )
        _, _, ious, low_res, high_res, obj_ptr, obj_score = sam_out
        best = (
            torch.argmax(ious, dim=-1) if ious.shape[-1] > 1 else torch.zeros(1, dtype=torch.long, device=ious.device)
        )
        score = ious[0, best[0]]
        # sam2's predictor fills small holes of the masks it stores and returns (_run_single_frame_inference);
        # the memory of a tracked frame was already encoded from the unfilled masks inside _track_step.
        low_res = fill_holes(low_res, self.fill_hole_area)
        if prompted:
            # sam2's predictor encodes prompted frames from the low-res mask, upsampled (propagate_in_video_preflight)
            high_res = F.interpolate(low_res, size=high_res.shape[-2:], mode="bilinear", align_corners=False)
        if refine:
            with timer.stage("refine"):
                if point_inputs is not None:
                    coords, labels = point_inputs["point_coords"], point_inputs["point_labels"]
                else:
                    coords, labels = obj.first_coords, obj.first_labels
                high_res, low_res = self._refine(capture, feats, switches, coords, labels, best, obj_score)
            low_res = fill_holes(low_res, self.fill_hole_area)  # the stored coarse mask, as SAM 2's
        maskmem = self._encode_memory(state, feats, high_res, obj_score, prompted, timer)
        self._store(obj, t, prompted, FrameMemory(obj_ptr, obj_score, maskmem), low_res)
        out_logits = high_res if refine and switches.mr else low_res
        return out_logits, float(score), float(obj_score[0, 0])

    def _track_together(self, state, objs: list[ObjectTrack], feats: FrameFeatures, timer) -> dict[int, tuple]:
        """Tracks ``objs`` (none prompted on this frame) into the current frame as one batch: sam2's tracking step
        with memory attention grouped by memory layout (``sam2_compat.batched_tracking``), the refiner, then the
        memory encoder. The same results as ``_run`` on each object."""
        t, switches, n = state.frame_idx, state.switches, len(objs)
        vision_feats = feats.decoder_feats(switches.la)
        refine = switches.any()
        with timer.stage("decode"):
            memories = [
                gather_memory(
                    self.sam,
                    frame_idx=t,
                    current_vision_feats=vision_feats,
                    current_vision_pos_embeds=feats.vision_pos,
                    feat_sizes=feats.feat_sizes,
                    output_dict=_output_dict(state, obj),
                    num_frames=STREAM_LENGTH,
                )
                for obj in objs
            ]
            if any(m is None for m in memories):  # no memory to attend to (sam2 configured without one)
                return {obj.obj_id: self._run(state, obj, feats, timer) for obj in objs}
            with timer.module(self.sam.memory_attention, "memory_attention"):
                pix_feat = attend_memories(self.sam, memories, feats.feat_sizes)
            with (
                memory_conditioned(self.sam, pix_feat),
                capture_decoder(self.sam) if refine else nullcontext() as capture,
            ):
                _, sam_out, _, _ = track_step(
                    self.sam,
                    frame_idx=t,
                    is_init_cond_frame=False,
                    current_vision_feats=_batch(vision_feats, n),
                    current_vision_pos_embeds=_batch(feats.vision_pos, n),
                    feat_sizes=feats.feat_sizes,
                    point_inputs=None,
                    mask_inputs=None,
                    output_dict={"cond_frame_outputs": {}, "non_cond_frame_outputs": {}},  # read by pix_feat's maker
                    num_frames=STREAM_LENGTH,
                    track_in_reverse=False,
                    prev_sam_mask_logits=None,
                )
        _, _, ious, low_res, high_res, obj_ptr, obj_score = sam_out
        best = torch.argmax(ious, dim=-1) if ious.shape[-1] > 1 else ious.new_zeros(n, dtype=torch.long)
        scores = ious.gather(1, best[:, None])[:, 0]
        low_res = fill_holes(low_res, self.fill_hole_area)
        if refine:
            with timer.stage("refine"):
                coords, labels = _padded_first_prompts(objs)
                high_res, low_res = self._refine(capture, feats, switches, coords, labels, best, obj_score)
            low_res = fill_holes(low_res, self.fill_hole_area)
        maskmem = self._encode_memory(state, feats, high_res, obj_score, False, timer)
        out_logits = high_res if refine and switches.mr else low_res
        out = {}
        for i, obj in enumerate(objs):
            # Each object keeps its own tensors, not views of the batch (a state's tensors are saved one by one).
            one = slice(i, i + 1)
            memory = FrameMemory(obj_ptr[one].clone(), obj_score[one].clone(), maskmem[one].clone())
            self._store(obj, t, False, memory, low_res[one].clone())
            out[obj.obj_id] = (out_logits[one], float(scores[i]), float(obj_score[i, 0]))
        return out

    def _encode_memory(self, state, feats, high_res, obj_score, prompted: bool, timer) -> torch.Tensor:
        """sam2's memory encoder on a batch of masks [N, 1, S, S] of the current frame -> [N, D, h, h] bf16 (as
        sam2's predictor stores it). It keeps SAM 2's own stride-16 feature (LA only feeds the decoder side)."""
        with timer.stage("memory_encode"):
            maskmem, pos = encode_new_memory(
                self.sam,
                current_vision_feats=_batch(feats.vision_feats, high_res.shape[0]),
                feat_sizes=feats.feat_sizes,
                pred_masks_high_res=high_res,
                object_score_logits=obj_score,
                is_mask_from_pts=prompted,
            )
        if state.maskmem_pos_enc is None:
            state.maskmem_pos_enc = pos[-1][:1].clone()
        return maskmem.to(torch.bfloat16)

    def _store(self, obj: ObjectTrack, t: int, prompted: bool, memory: FrameMemory, low_res: torch.Tensor) -> None:
        if prompted:
            obj.cond[t] = memory
            obj.non_cond.pop(t, None)
        else:
            obj.non_cond[t] = memory
        obj.mask_logits = low_res
        self._prune(obj, t)

    def _refine(self, capture, feats, switches, coords, labels, best, obj_score):
        """Prompt Retargeting and Mask Refinement on the decoder outputs sam2 just produced (``capture``, recorded
        by ``sam2_compat.capture_decoder``) for N objects, for the one candidate SAM 2 keeps (``best`` [N]): the
        others are dropped.

        PR draws each object's FIRST prompt on tracked frames (paper sec. 3.3), on a prompted frame that frame's
        clicks (``coords`` [N, P, 2] / ``labels`` [N, P], padding labelled -1). Returns (high-res logits
        [N, 1, S, S] for the memory encoder, low-res [N, 1, S/4, S/4]).
        """
        decoded = capture.decoded()
        if decoded.token_index.shape[1] > 1:
            decoded = decoded.keep(best.view(-1, 1))
        pred = self.model.refine(decoded, feats.mr_image_term, switches, coords, labels)
        logits = pred.logits.float()  # [N, 1, R, R]
        size = self.model.image_size
        if logits.shape[-1] != size:
            logits = F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False)
        # An absent object stays absent, as SAM 2 forces its own masks to NO_OBJ_SCORE.
        logits = torch.where(obj_score[:, :, None, None] > 0, logits, torch.full_like(logits, NO_OBJ_SCORE))
        low = F.interpolate(logits, size=(size // 4, size // 4), mode="bilinear", align_corners=False, antialias=True)
        return logits, low

    def _prune(self, obj: ObjectTrack, t: int) -> None:
        """Drops what neither frame ``t`` (re-run by a correction) nor later frames can read (bounded state).

        Memory attention reads the spatial memory of the ``num_maskmem - 1`` frames before the frame it runs on
        (every r-th with ``memory_temporal_stride_for_eval`` r) and the object pointers of the
        ``max_obj_ptrs_in_encoder - 1`` frames before it; a correction re-runs frame ``t``, so its reach counts
        from ``t``.
        """
        stride = self.sam.memory_temporal_stride_for_eval
        mem_reach = stride * (self.sam.num_maskmem - 1)
        ptr_reach = self.sam.max_obj_ptrs_in_encoder - 1
        for k in list(obj.non_cond):
            if k < t - max(mem_reach, ptr_reach):
                del obj.non_cond[k]
            elif k < t - mem_reach and obj.non_cond[k].maskmem_features is not None:
                obj.non_cond[k] = replace(obj.non_cond[k], maskmem_features=None)

    def _cap_cond_frames(self, obj: ObjectTrack) -> None:
        """Keeps the first and the most recent conditioning frames; the others become plain tracked frames."""
        while len(obj.cond) > self.max_cond_frames:
            frames = sorted(obj.cond)
            demoted = frames[1]
            obj.non_cond[demoted] = obj.cond.pop(demoted)

    def _result(self, state, logits, timer) -> FrameResult:
        objects = []
        for obj_id in state.objects:
            if obj_id not in logits:
                continue
            low, score, obj_score = logits[obj_id]
            full = self.model.upsample_logits(low, tuple(state.orig_hw))[0, 0]
            objects.append(TrackedObject(obj_id, full, score, obj_score, obj_score > 0))
        seconds = dict(timer.seconds)
        if "decode" in seconds:  # the decode stage ran memory attention inside it
            seconds["decode"] -= seconds.get("memory_attention", 0.0)
        return FrameResult(state.frame_idx, objects, seconds)


def _output_dict(state: TrackerState, obj: ObjectTrack) -> dict:
    """The object's memory in the layout of sam2's ``output_dict``, without the current frame (a correction
    re-runs it)."""
    t, pos_enc = state.frame_idx, state.maskmem_pos_enc
    return {
        "cond_frame_outputs": {k: m.as_sam2_output(pos_enc) for k, m in obj.cond.items() if k != t},
        "non_cond_frame_outputs": {k: m.as_sam2_output(pos_enc) for k, m in obj.non_cond.items() if k != t},
    }


def _batch(levels: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    """One frame's features [(HW), 1, C] per level as a batch of ``n`` objects (views, no copy)."""
    return levels if n == 1 else [x.expand(-1, n, -1) for x in levels]


def _padded_first_prompts(objs: list[ObjectTrack]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The objects' first prompts as one batch [N, P, 2] / [N, P], shorter ones padded with label -1 (not a
    click, as sam2 pads); (None, None) when no object has one (mask prompts)."""
    prompts = [(o.first_coords, o.first_labels) for o in objs]
    longest = max((c.shape[1] for c, _ in prompts if c is not None), default=0)
    if longest == 0:
        return None, None
    some_coords, some_labels = next((c, lab) for c, lab in prompts if c is not None)
    coords = some_coords.new_zeros(len(objs), longest, 2)
    labels = some_labels.new_full((len(objs), longest), -1)
    for i, (c, lab) in enumerate(prompts):
        if c is not None:
            coords[i, : c.shape[1]] = c[0]
            labels[i, : c.shape[1]] = lab[0]
    return coords, labels


def _copy_state(state: TrackerState, device: torch.device | None = None) -> TrackerState:
    """A copy whose containers can be changed freely; tensors are shared (they are never written in place), and
    moved to ``device`` when a store handed them back on another one (a no-op otherwise)."""
    move = (lambda t: t) if device is None else (lambda t: None if t is None else t.to(device))  # noqa: E731

    def memories(frames: dict) -> dict:
        return {
            k: FrameMemory(move(m.obj_ptr), move(m.object_score_logits), move(m.maskmem_features))
            for k, m in frames.items()
        }

    objects = {
        k: replace(
            o,
            cond=memories(o.cond),
            non_cond=memories(o.non_cond),
            first_coords=move(o.first_coords),
            first_labels=move(o.first_labels),
            mask_logits=move(o.mask_logits),
        )
        for k, o in state.objects.items()
    }
    return replace(state, objects=objects, maskmem_pos_enc=move(state.maskmem_pos_enc))
