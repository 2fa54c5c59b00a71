"""A byte-bounded LRU cache of the frozen encoder's outputs, keyed by data set index.

The frozen encoder is most of a training step's cost (with Localization Augment it runs on the image and its
four quadrants), and its output depends only on the input image. Un-augmented samples therefore reuse it
across epochs; augmented ones (a new image every time) are always encoded. Entries live on the CPU.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from sam2refiner.model.features import BackboneFeatures


def backbone_tensors(bb: BackboneFeatures) -> list[torch.Tensor]:
    return [t for t in (bb.global_feat, bb.local_feats, *bb.high_res, bb.image) if t is not None]


def backbone_nbytes(bb: BackboneFeatures) -> int:
    return sum(t.numel() * t.element_size() for t in backbone_tensors(bb))


def _map(bb: BackboneFeatures, fn) -> BackboneFeatures:
    opt = lambda t: None if t is None else fn(t)  # noqa: E731
    return BackboneFeatures(fn(bb.global_feat), opt(bb.local_feats), [fn(t) for t in bb.high_res], fn(bb.image))


def select_backbone(bb: BackboneFeatures, index: int) -> BackboneFeatures:
    """Image ``index`` of a batch, as a batch of one."""
    return _map(bb, lambda t: t[index : index + 1])


def move_backbone(bb: BackboneFeatures, device) -> BackboneFeatures:
    return _map(bb, lambda t: t.to(device, non_blocking=True))


def cat_backbones(parts: list[BackboneFeatures]) -> BackboneFeatures:
    """Batches of the same image size concatenated along the batch axis."""
    first = parts[0]
    local = None if first.local_feats is None else torch.cat([p.local_feats for p in parts])
    high = [torch.cat([p.high_res[i] for p in parts]) for i in range(len(first.high_res))]
    return BackboneFeatures(torch.cat([p.global_feat for p in parts]), local, high, torch.cat([p.image for p in parts]))


class FeatureCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[int, BackboneFeatures] = OrderedDict()
        self.nbytes = 0
        self.hits = self.misses = 0

    def get(self, key: int) -> BackboneFeatures | None:
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: int, bb: BackboneFeatures) -> None:
        if self.max_bytes <= 0 or key in self.entries:
            return
        size = backbone_nbytes(bb)
        if size > self.max_bytes:
            return
        while self.nbytes + size > self.max_bytes and self.entries:
            _, old = self.entries.popitem(last=False)
            self.nbytes -= backbone_nbytes(old)
        self.entries[key] = _map(bb, lambda t: t.detach().to("cpu", copy=True))  # own storage, not a view of the batch
        self.nbytes += size


__all__ = ["FeatureCache", "select_backbone", "cat_backbones", "move_backbone", "backbone_nbytes"]
