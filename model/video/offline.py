"""Tracking a whole video file, exactly as sam2's ``SAM2VideoPredictor`` does (refiner off).

    tracker = OfflineTracker(model)                                   # a SAM2Refiner built with video=True
    track = tracker.open(FileFrames("v1", jpegs))                     # jpegs: one JPEG per source frame
    masks = tracker.prompt(track, FramePrompt(frame=0, obj_id=1, points=[[x, y]], labels=[1]))
    steps = tracker.propagate(track, start=0, reverse=False)          # sam2's propagate_in_video
    for masks in iter(lambda: tracker.step(steps), None): ...         # one frame per call

Every step is sam2's own predictor code (``sam2_compat.video_predictor``: a view of the model's SAM 2 under
sam2's predictor class): prompts on any frame, corrections (a corrected frame becomes a conditioning frame,
``add_all_frames_to_correct_as_cond``), propagation forward and backward. Frames are the JPEGs the caller gives,
read as sam2 reads a JPEG folder, one at a time when a step needs them. The memory of a prompted frame is encoded
at once (sam2 does it at the start of the next propagation: the same encoder on the same inputs).

``FileTrack`` is what persists between requests (sam2's inference state without its frames and caches);
``offline_codec.py`` turns it into bytes. The model layer knows nothing of where it is kept.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InvalidInputError
from ..prompts import check_boxes, check_mask_size, check_object_prompts, check_points
from ..runtime import inference_context
from ..sam2_compat import SAM2_VIDEO_FILL_HOLE_AREA
from ..sam2_compat.video_predictor import (
    encode_frame,
    inference_state,
    load_frame,
    stored_video_res_masks,
    video_predictor,
)
from ..sam2refiner import SAM2Refiner

FEATURE_FRAMES = 16  # frames whose encoder features a tracker keeps (a click on a recent frame skips the encoder)


class FileFrames(Sequence):
    """A video's frames as sam2's predictor reads them: ``frames[k]`` is frame k's [3, S, S] input tensor, read
    from its JPEG when asked. ``key`` names the video in the tracker's feature cache."""

    def __init__(
        self, key: str, jpegs: Sequence[bytes], image_size: int, height: int | None = None, width: int | None = None
    ):
        if not jpegs:
            raise InvalidInputError("video", "the video has no frames")
        self.key, self.jpegs, self.image_size = key, jpegs, image_size
        if height is None or width is None:
            _, height, width = load_frame(jpegs[0], 32)
        self.height, self.width = height, width

    def __len__(self) -> int:
        return len(self.jpegs)

    def __getitem__(self, k):
        if isinstance(k, slice):
            raise TypeError("frames are read one at a time")
        return load_frame(self.jpegs[k], self.image_size)[0]


class _Unattached(Sequence):
    """The frames of a track read from a store, before ``OfflineTracker.open`` attaches the video's."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k):
        raise RuntimeError("the track's frames are not attached: OfflineTracker.open(frames, track)")


@dataclass
class FileTrack:
    """A file session's tracking state: sam2's inference state (its ``images`` are the session's frames).
    ``saved`` holds, per stored field, the output it last stored (``offline_codec`` writes only the others)."""

    state: dict
    saved: dict[str, object] = field(default_factory=dict)

    @property
    def obj_ids(self) -> list[int]:
        return list(self.state["obj_ids"])

    def copy(self) -> FileTrack:
        """A copy whose containers may change freely (tensors shared: sam2 never writes them in place)."""
        s = self.state
        nested = ("point_inputs_per_obj", "mask_inputs_per_obj", "frames_tracked_per_obj")
        state = dict(s)
        for name in nested:
            state[name] = {i: dict(v) for i, v in s[name].items()}
        for name in ("output_dict_per_obj", "temp_output_dict_per_obj"):
            state[name] = {i: {k: dict(d) for k, d in v.items()} for i, v in s[name].items()}
        state["obj_id_to_idx"], state["obj_idx_to_id"] = (
            OrderedDict(s["obj_id_to_idx"]),
            OrderedDict(s["obj_idx_to_id"]),
        )
        state["obj_ids"], state["constants"], state["cached_features"] = list(s["obj_ids"]), dict(s["constants"]), {}
        return FileTrack(state, dict(self.saved))

    def output(self, obj_id: int, t: int) -> dict | None:
        """The object's stored output on frame t (sam2's compact output dict), or None."""
        idx = self.state["obj_id_to_idx"].get(obj_id)
        if idx is None:
            return None
        outputs = self.state["output_dict_per_obj"][idx]
        return outputs["cond_frame_outputs"].get(t) or outputs["non_cond_frame_outputs"].get(t)

    def frames_with_masks(self) -> list[int]:
        frames = set()
        for outputs in self.state["output_dict_per_obj"].values():
            frames.update(outputs["cond_frame_outputs"], outputs["non_cond_frame_outputs"])
        return sorted(frames)

    def prompted_frames(self) -> list[int]:
        return sorted({t for o in self.state["output_dict_per_obj"].values() for t in o["cond_frame_outputs"]})


@dataclass
class FramePrompt:
    """One object's prompt on one frame, in source-frame pixels: points [P, 2] (x, y) with labels [P] (1 positive,
    0 negative) and/or a box [4]; or a mask [H, W] alone. ``clear_old_points`` False adds the points to the
    frame's earlier ones (sam2's option)."""

    frame: int
    obj_id: int
    points: list | np.ndarray | None = None
    labels: list | np.ndarray | None = None
    box: list | np.ndarray | None = None
    mask: np.ndarray | None = None
    clear_old_points: bool = True


@dataclass
class ObjectMask:
    obj_id: int
    mask: np.ndarray  # bool [H, W] at the source's resolution
    score: float  # sigmoid of SAM 2's object-presence logit
    visible: bool  # SAM 2's presence logit > 0


@dataclass
class FrameMasks:
    frame: int
    objects: list[ObjectMask]


def _inference(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with inference_context(self.predictor.device):
            return method(self, *args, **kwargs)

    return wrapper


class OfflineTracker:
    def __init__(self, model: SAM2Refiner, fill_hole_area: int = SAM2_VIDEO_FILL_HOLE_AREA):
        self.model = model
        self.predictor = video_predictor(model.sam2, fill_hole_area=fill_hole_area)
        # (video key, frame) -> sam2's cached (image, backbone_out): the encoder runs once per frame and video
        self._features: OrderedDict[tuple[str, int], tuple] = OrderedDict()
        self._features_lock = threading.Lock()  # prompts, propagations and deletions come from different threads

    @property
    def image_size(self) -> int:
        return self.predictor.image_size

    def blank(self, num_frames: int, height: int, width: int) -> dict:
        """An empty inference state for a video of this shape, its frames not attached yet (``open``)."""
        return inference_state(self.predictor, _Unattached(num_frames), height, width)

    def open(self, frames: FileFrames, track: FileTrack | None = None) -> FileTrack:
        """A new track over ``frames``, or ``track`` (as stored) with its frames attached."""
        if track is None:
            track = FileTrack(inference_state(self.predictor, frames, frames.height, frames.width))
        s = track.state
        if (s["num_frames"], s["video_height"], s["video_width"]) != (len(frames), frames.height, frames.width):
            raise InvalidInputError("video", "the stored track is not this video's")
        s["images"] = frames
        return track

    # ------------------------------------------------------------------ prompts
    @_inference
    def prompt(self, track: FileTrack, p: FramePrompt) -> FrameMasks:
        """Applies one object's prompt on frame ``p.frame``; returns every object's mask on that frame."""
        s = track.state
        hw = (s["video_height"], s["video_width"])
        self._check(p, s["num_frames"], hw)
        with self._cached(track, p.frame):
            if p.mask is not None:
                self.predictor.add_new_mask(s, frame_idx=p.frame, obj_id=p.obj_id, mask=torch.as_tensor(p.mask))
            else:
                self.predictor.add_new_points_or_box(
                    s,
                    frame_idx=p.frame,
                    obj_id=p.obj_id,
                    points=None if p.points is None else np.asarray(p.points, dtype=np.float32),
                    labels=None if p.labels is None else np.asarray(p.labels, dtype=np.int32),
                    box=None if p.box is None else np.asarray(p.box, dtype=np.float32),
                    clear_old_points=p.clear_old_points,
                )
            # The memory of the prompted frame, as sam2 encodes it before its next propagation.
            self.predictor.propagate_in_video_preflight(s)
        return self.masks(track, p.frame)

    def _check(self, p: FramePrompt, num_frames: int, hw: tuple[int, int]) -> None:
        if not 0 <= p.frame < num_frames:
            raise InvalidInputError("frame", f"frame {p.frame} is not in the video (frames 0 to {num_frames - 1})")
        check_object_prompts(p.points, p.labels, p.box, p.mask)
        if p.mask is not None:
            if p.points is not None or p.box is not None:
                raise InvalidInputError("mask", "a mask prompt goes alone, without points or box")
            check_mask_size(np.shape(p.mask), hw, "mask")
            return
        if p.points is not None:
            points, _ = check_points(p.points, p.labels, hw)
            if points.shape[0] != 1:
                raise InvalidInputError("points", "one object per prompt: points are [P, 2]")
        if p.box is not None:
            if check_boxes(p.box, hw).shape[0] != 1:
                raise InvalidInputError("box", "one box per object")
            if not p.clear_old_points:
                raise InvalidInputError(
                    "box", "a box replaces the frame's earlier points: clear_old_points must be true"
                )

    def remove_object(self, track: FileTrack, obj_id: int) -> None:
        if obj_id not in track.state["obj_id_to_idx"]:
            raise InvalidInputError("object_id", f"object {obj_id} is not tracked (tracked: {track.obj_ids})")
        self.predictor.remove_object(track.state, obj_id, strict=True, need_output=False)

    def reset(self, track: FileTrack) -> None:
        self.predictor.reset_state(track.state)

    # ------------------------------------------------------------------ propagation
    def propagate(
        self, track: FileTrack, start: int | None = None, reverse: bool = False, max_frames: int | None = None
    ) -> Iterator[FrameMasks]:
        """sam2's ``propagate_in_video`` over the track, one frame per ``next`` (run each under ``step``, after
        ``encode`` of that frame if wanted)."""
        s = track.state
        if not s["obj_ids"]:
            raise InvalidInputError("objects", "no object has a prompt yet: prompt one on any frame first")
        if start is not None and not 0 <= start < s["num_frames"]:
            raise InvalidInputError("start_frame", f"frame {start} is not in the video")
        steps = self.predictor.propagate_in_video(
            s, start_frame_idx=start, max_frame_num_to_track=max_frames, reverse=reverse
        )
        for t, _, video_res_masks in steps:
            yield self._frame_masks(track, t, video_res_masks)

    @_inference
    def encode(self, track: FileTrack, t: int) -> None:
        """The image encoder on frame t ahead of its propagation step (a device job of its own, so that other work
        can run between the encoder and the tracking); nothing when every object is prompted there."""
        outputs = track.state["output_dict_per_obj"].values()
        if all(t in o["cond_frame_outputs"] for o in outputs):
            return
        encode_frame(self.predictor, track.state, frame_idx=t)

    @_inference
    def step(self, steps: Iterator[FrameMasks]) -> FrameMasks | None:
        """The next frame of a propagation (None when it is done): one device job."""
        return next(steps, None)

    # ------------------------------------------------------------------ masks
    @_inference
    def masks(self, track: FileTrack, t: int) -> FrameMasks:
        """Every object's stored mask on frame t, at the source's resolution (an object without one: empty)."""
        return self._frame_masks(track, t, stored_video_res_masks(self.predictor, track.state, frame_idx=t))

    def _frame_masks(self, track: FileTrack, t: int, video_res_masks: torch.Tensor) -> FrameMasks:
        masks = (video_res_masks[:, 0] > 0).cpu().numpy()
        objects = []
        for i, obj_id in enumerate(track.state["obj_ids"]):
            out = track.output(obj_id, t)
            logit = float(out["object_score_logits"].reshape(-1)[0]) if out is not None else -1e4
            objects.append(ObjectMask(obj_id, masks[i], float(torch.sigmoid(torch.tensor(logit))), logit > 0))
        return FrameMasks(t, objects)

    # ------------------------------------------------------------------ encoder features
    @contextmanager
    def _cached(self, track: FileTrack, t: int):
        """Frame t's encoder features from this tracker's cache while a prompt runs (sam2's state keeps only the
        last frame's), kept afterwards: a click on a recently clicked frame skips the encoder."""
        state, key = track.state, (track.state["images"].key, t)
        with self._features_lock:
            hit = self._features.get(key)
            if hit is not None:
                self._features.move_to_end(key)
        state["cached_features"] = {t: hit} if hit is not None else {}
        try:
            yield
        finally:
            found = state["cached_features"].get(t)
            state["cached_features"] = {}
            if found is not None:
                with self._features_lock:
                    self._features[key] = found
                    while len(self._features) > FEATURE_FRAMES:
                        self._features.popitem(last=False)

    def forget(self, key: str) -> None:
        """Drops a video's cached features (the session was deleted)."""
        with self._features_lock:
            for k in [k for k in self._features if k[0] == key]:
                del self._features[k]


__all__ = ["FileFrames", "FileTrack", "FrameMasks", "FramePrompt", "ObjectMask", "OfflineTracker"]
