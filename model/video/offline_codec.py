"""A file session's track (``offline.FileTrack``) <-> bytes, with the video tracker's safetensors blobs (no pickle).

One ``meta`` blob holds the small parts (objects in order, prompts per frame, which frames are conditioning and
in which direction each was tracked, the memory's positional encoding) with a JSON layout; one blob per object and
frame (``mem:{obj_id}:{t}``) holds sam2's compact output of that frame (bf16 spatial memory, low-res mask logits,
object pointer, presence logit). A propagation step writes one field per object; ``dirty_fields`` names the outputs
that changed since they were last stored, ``mark_saved`` records a save. Blobs carry the format and the model's
fingerprint (``codec.seal`` / ``codec.unseal``): another model's or format's bytes are refused.
"""

from __future__ import annotations

import json

import torch

from .codec import seal, unseal
from .offline import FileTrack

KINDS = ("cond_frame_outputs", "non_cond_frame_outputs")
_OUTPUT_TENSORS = ("maskmem_features", "pred_masks", "obj_ptr", "object_score_logits")


def output_field(obj_id: int, t: int) -> str:
    return f"mem:{obj_id}:{t}"


def _outputs(track: FileTrack):
    """(field, kind, obj_id, t, output) of every stored output."""
    s = track.state
    for obj_id in s["obj_ids"]:
        idx = s["obj_id_to_idx"][obj_id]
        for kind in KINDS:
            for t, out in s["output_dict_per_obj"][idx][kind].items():
                yield output_field(obj_id, t), kind, obj_id, t, out


def encode_track(track: FileTrack, fingerprint: str, **extra: str) -> tuple[bytes, dict[str, dict]]:
    """(meta blob, {field: sam2 output}); ``encode_output`` turns an output into its blob. ``extra`` strings go into
    the meta blob's header (the caller's own description)."""
    s = track.state
    if any(v for o in s["temp_output_dict_per_obj"].values() for v in o.values()):
        raise ValueError("the track has unconsolidated prompt outputs (run the prompt's preflight first)")
    tensors: dict[str, torch.Tensor] = {}
    for i, t in enumerate(s["constants"].get("maskmem_pos_enc") or []):
        tensors[f"maskmem_pos_enc.{i}"] = t
    objects = []
    for obj_id in s["obj_ids"]:
        idx = s["obj_id_to_idx"][obj_id]
        points = s["point_inputs_per_obj"][idx]
        masks = s["mask_inputs_per_obj"][idx]
        for t, p in points.items():
            tensors[f"o{obj_id}.{t}.point_coords"] = p["point_coords"]
            tensors[f"o{obj_id}.{t}.point_labels"] = p["point_labels"]
        for t, m in masks.items():
            tensors[f"o{obj_id}.{t}.mask_inputs"] = m
        outputs = s["output_dict_per_obj"][idx]
        objects.append(
            {
                "obj_id": obj_id,
                "points": sorted(points),
                "masks": sorted(masks),
                "cond": sorted(outputs["cond_frame_outputs"]),
                "non_cond": sorted(outputs["non_cond_frame_outputs"]),
                "reverse": {str(t): bool(v["reverse"]) for t, v in s["frames_tracked_per_obj"][idx].items()},
            }
        )
    layout = {"objects": objects, "positional_levels": len(s["constants"].get("maskmem_pos_enc") or [])}
    meta = seal(tensors, fingerprint, **extra, layout=json.dumps(layout))
    return meta, {f: out for f, _, _, _, out in _outputs(track)}


def encode_output(out: dict, fingerprint: str) -> bytes:
    return seal({k: out[k] for k in _OUTPUT_TENSORS if out.get(k) is not None}, fingerprint)


def dirty_fields(track: FileTrack) -> set[str]:
    """The outputs not stored as they are now (new, or replaced by a correction or a new propagation)."""
    return {f for f, _, _, _, out in _outputs(track) if track.saved.get(f) is not out}


def mark_saved(track: FileTrack) -> None:
    track.saved = {f: out for f, _, _, _, out in _outputs(track)}


def output_nbytes(track: FileTrack) -> int:
    return sum(
        t.numel() * t.element_size()
        for *_, out in _outputs(track)
        for k in _OUTPUT_TENSORS
        if (t := out.get(k)) is not None
    )


def read_header(meta: bytes, fingerprint: str) -> dict:
    """The meta blob's header (with the caller's ``extra`` of ``encode_track``)."""
    return unseal(meta, fingerprint, "meta")[0]


def decode_track(meta: bytes, fields: dict[str, bytes], fingerprint: str, state: dict, device) -> FileTrack:
    """Fills ``state`` (an empty ``OfflineTracker.blank`` state) from the stored blobs; tensors go to ``device``."""
    header, tensors = unseal(meta, fingerprint, "meta")
    layout = json.loads(header["layout"])
    move = {k: v.to(device) for k, v in tensors.items()}
    pos = [move[f"maskmem_pos_enc.{i}"] for i in range(int(layout["positional_levels"]))]
    if pos:
        state["constants"]["maskmem_pos_enc"] = pos
    for idx, o in enumerate(layout["objects"]):
        obj_id = int(o["obj_id"])
        state["obj_id_to_idx"][obj_id] = idx
        state["obj_idx_to_id"][idx] = obj_id
        state["obj_ids"].append(obj_id)
        p = f"o{obj_id}"
        state["point_inputs_per_obj"][idx] = {
            int(t): {"point_coords": move[f"{p}.{t}.point_coords"], "point_labels": move[f"{p}.{t}.point_labels"]}
            for t in o["points"]
        }
        state["mask_inputs_per_obj"][idx] = {int(t): move[f"{p}.{t}.mask_inputs"] for t in o["masks"]}
        state["frames_tracked_per_obj"][idx] = {int(t): {"reverse": r} for t, r in o["reverse"].items()}
        state["temp_output_dict_per_obj"][idx] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        outputs = state["output_dict_per_obj"][idx] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        for kind, frames in (("cond_frame_outputs", o["cond"]), ("non_cond_frame_outputs", o["non_cond"])):
            for t in frames:
                field = output_field(obj_id, int(t))
                if field not in fields:
                    raise ValueError(f"state is incomplete: output {field} is missing")
                _, blob = unseal(fields[field], fingerprint, field)
                out = {k: blob[k].to(device) if k in blob else None for k in _OUTPUT_TENSORS}
                out["maskmem_pos_enc"] = pos  # one copy per session, as sam2's _get_maskmem_pos_enc keeps it
                outputs[kind][int(t)] = out
    track = FileTrack(state)
    mark_saved(track)
    return track


__all__ = [
    "decode_track",
    "dirty_fields",
    "encode_output",
    "encode_track",
    "mark_saved",
    "output_field",
    "output_nbytes",
    "read_header",
]
