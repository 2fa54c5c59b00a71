"""Tracker state <-> bytes, without pickle: safetensors blobs whose header carries a small JSON description.

A state is split into one ``meta`` blob (everything small: pointers, scores, the positional encoding, first
prompts, current low-res masks, plus the JSON layout) and one blob per (object, frame) spatial memory
(``mem:{obj_id}:{frame}``, bf16 [1, 64, h, h]). Spatial memories never change once written except on the
current frame, so a store only writes the new ones each frame. Every blob's header names the format version
and the model fingerprint; a blob written by another model or format is refused with ``StateFormatError``.
"""

from __future__ import annotations

import json

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..config import RefinerSwitches
from .state import FrameMemory, ObjectTrack, TrackerState

FORMAT = "sam2refiner-video-state"
FORMAT_VERSION = "1"


class StateFormatError(ValueError):
    """A stored state cannot be used by this model: another format version, another model, or damaged bytes."""


def model_fingerprint(model) -> str:
    """What must match for a memory bank to be valid: SAM 2 config, size, weights, refiner modules and weights."""
    cfg = model.config
    w = getattr(model, "weights", None)
    sam2 = (w.sam2_sha256 if w is not None and w.sam2_sha256 else f"random-seed-{getattr(w, 'seed', 0)}")[:16]
    refiner = (w.refiner_sha256 if w is not None and w.refiner_sha256 else f"random-seed-{getattr(w, 'seed', 0)}")[:16]
    modules = "".join(k for k, on in cfg.modules.as_dict().items() if on) or "none"
    return f"{cfg.sam2_config}/{cfg.image_size}/sam2:{sam2}/refiner:{modules}:{refiner}"


def memory_field(obj_id: int, frame: int) -> str:
    return f"mem:{obj_id}:{frame}"


def encode_state(state: TrackerState, fingerprint: str) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Returns (meta blob, {memory field: bf16 features}); ``encode_memory`` turns each feature into bytes."""
    tensors: dict[str, torch.Tensor] = {}
    objects = []
    memories: dict[str, torch.Tensor] = {}
    if state.maskmem_pos_enc is not None:
        tensors["maskmem_pos_enc"] = state.maskmem_pos_enc
    for obj in state.objects.values():
        o = f"o{obj.obj_id}"
        for name in ("first_coords", "first_labels", "mask_logits"):
            value = getattr(obj, name)
            if value is not None:
                tensors[f"{o}.{name}"] = value
        frames = []
        for kind, t, mem in obj.frames():
            tensors[f"{o}.{t}.obj_ptr"] = mem.obj_ptr
            tensors[f"{o}.{t}.object_score_logits"] = mem.object_score_logits
            if mem.maskmem_features is not None:
                memories[memory_field(obj.obj_id, t)] = mem.maskmem_features
            frames.append([kind, t, mem.maskmem_features is not None])
        objects.append({"obj_id": obj.obj_id, "start_frame": obj.start_frame, "frames": frames})
    layout = {
        "frame_idx": state.frame_idx,
        "orig_hw": list(state.orig_hw) if state.orig_hw else None,
        "switches": state.switches.as_dict(),
        "objects": objects,
    }
    meta = st_save(_contiguous(tensors), metadata=_header(fingerprint, layout=json.dumps(layout)))
    return meta, memories


def encode_memory(features: torch.Tensor, fingerprint: str) -> bytes:
    return st_save({"maskmem_features": features.detach().cpu().contiguous()}, metadata=_header(fingerprint))


def decode_state(meta: bytes, memories: dict[str, bytes], fingerprint: str) -> TrackerState:
    """The inverse of ``encode_state``; ``memories`` maps memory fields to their blobs."""
    header, tensors = _read(meta, fingerprint, "meta")
    try:
        layout = json.loads(header["layout"])
        state = TrackerState(
            switches=RefinerSwitches(**layout["switches"]),
            frame_idx=int(layout["frame_idx"]),
            orig_hw=tuple(layout["orig_hw"]) if layout["orig_hw"] else None,
            maskmem_pos_enc=tensors.get("maskmem_pos_enc"),
        )
        for o in layout["objects"]:
            obj_id = int(o["obj_id"])
            p = f"o{obj_id}"
            obj = ObjectTrack(
                obj_id,
                int(o["start_frame"]),
                first_coords=tensors.get(f"{p}.first_coords"),
                first_labels=tensors.get(f"{p}.first_labels"),
                mask_logits=tensors.get(f"{p}.mask_logits"),
            )
            for kind, t, has_features in o["frames"]:
                features = None
                if has_features:
                    field = memory_field(obj_id, t)
                    if field not in memories:
                        raise StateFormatError(f"state is incomplete: spatial memory {field} is missing")
                    _, mem = _read(memories[field], fingerprint, field)
                    features = mem["maskmem_features"]
                memory = FrameMemory(tensors[f"{p}.{t}.obj_ptr"], tensors[f"{p}.{t}.object_score_logits"], features)
                (obj.cond if kind == "cond" else obj.non_cond)[int(t)] = memory
            state.objects[obj_id] = obj
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, StateFormatError):
            raise
        raise StateFormatError(f"stored state is damaged: {e!r}") from e
    return state


def seal(tensors: dict[str, torch.Tensor], fingerprint: str, **metadata: str) -> bytes:
    """Tensors as one blob of this format, stamped with the model's fingerprint (other states use it too)."""
    return st_save(_contiguous(tensors), metadata=_header(fingerprint, **metadata))


def unseal(blob: bytes, fingerprint: str, what: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(header, tensors) of a ``seal``ed blob; ``StateFormatError`` for another format or model, or damage."""
    return _read(blob, fingerprint, what)


def _header(fingerprint: str, **extra: str) -> dict[str, str]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": fingerprint, **extra}


def _read(blob: bytes, fingerprint: str, what: str) -> tuple[dict, dict[str, torch.Tensor]]:
    try:
        header = json.loads(blob[8 : 8 + int.from_bytes(blob[:8], "little")]).get("__metadata__", {})
        tensors = st_load(blob)
    except Exception as e:  # not safetensors at all
        raise StateFormatError(f"stored {what} is not a readable state blob: {e}") from e
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise StateFormatError(
            f"stored {what} has format {header.get('format')!r} v{header.get('format_version')}; "
            f"this server reads {FORMAT} v{FORMAT_VERSION}"
        )
    if header.get("model") != fingerprint:
        raise StateFormatError(
            f"stored {what} was written by another model ({header.get('model')}); this server runs {fingerprint}"
        )
    return header, tensors


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
