"""Data set readers: image/mask folders (HQSeg-44K and the four image test sets, as HQ-SAM lays them out),
LVOS v1/v2 videos, a manifest that names them, and synthetic stand-ins laid out the same way in memory.

Image items are dicts:  image uint8 [H, W, 3] RGB, masks bool [K, H, W], name str, index int.

Nothing here downloads anything: the data sets are the user's to supply (see README, section training).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from .synthetic import synthetic_image, synthetic_video


class DatasetError(ValueError):
    """A data set on disk is missing or malformed; the message names the files."""


# ------------------------------------------------------------------------------------------ HQ-SAM layout
# Relative to the data root, as SysCV/sam-hq's train.py names them (its "./data/...").
# The paper lists DUT-OMRON among HQSeg-44K's six sets; HQ-SAM's release (and so these folders) holds DUTS
# (DUTS-TR and DUTS-TE, both used for training) and no DUT-OMRON. We follow the release.
HQSEG44K_TRAIN = {
    "DIS5K-TR": ("DIS5K/DIS-TR/im", "DIS5K/DIS-TR/gt"),
    "ThinObject5K-TR": (
        "thin_object_detection/ThinObject5K/images_train",
        "thin_object_detection/ThinObject5K/masks_train",
    ),
    "FSS": ("cascade_psp/fss_all", "cascade_psp/fss_all"),
    "DUTS-TR": ("cascade_psp/DUTS-TR", "cascade_psp/DUTS-TR"),
    "DUTS-TE": ("cascade_psp/DUTS-TE", "cascade_psp/DUTS-TE"),
    "ECSSD": ("cascade_psp/ecssd", "cascade_psp/ecssd"),
    "MSRA10K": ("cascade_psp/MSRA_10K", "cascade_psp/MSRA_10K"),
}
# The four test sets of Table 1, in the paper's column order.
IMAGE_TEST_SETS = {
    "DIS-VD": ("DIS5K/DIS-VD/im", "DIS5K/DIS-VD/gt"),
    "ThinObject5K-TE": (
        "thin_object_detection/ThinObject5K/images_test",
        "thin_object_detection/ThinObject5K/masks_test",
    ),
    "COIFT": ("thin_object_detection/COIFT/images", "thin_object_detection/COIFT/masks"),
    "HRSOD": ("thin_object_detection/HRSOD/images", "thin_object_detection/HRSOD/masks_max255"),
}
# LVOS: <root>/<split> holds JPEGImages/, Annotations/ and <split>_meta.json (LVOS-Benchmark's layout).
LVOS_SETS = {"LVOS-v1": "LVOS/v1/valid", "LVOS-v2": "LVOS/v2/valid"}


# How a video set's figures are formed (``video_eval.summarize``): lvos-evaluation at HEAD averages seen and unseen
# categories for LVOS v1 and v2 alike ("seen-unseen"); "all-objects" is DAVIS's mean over all objects.
VIDEO_AGGREGATES = ("seen-unseen", "all-objects")


def read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))  # writable: torch.from_numpy warns on read-only arrays
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from e


def read_binary_mask(path: Path) -> np.ndarray:
    """0/255 (or 0/1) PNG -> bool [H, W] as SysCV/sam-hq (fb181f8) reads GT: channel 0 of a colour PNG
    (train/utils/dataloader.py line 248), foreground above 128 (train/utils/misc.py lines 489, 530); 0/1 PNGs
    (which sam-hq would read as empty) keep every non-zero pixel."""
    try:
        with Image.open(path) as im:
            m = np.asarray(im.convert("RGB"))[..., 0]  # sam-hq's gt[:, :, 0]; for a grey PNG its grey level
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read mask {path}: {e}") from e
    return m > (128 if m.max() > 1 else 0)


class ImageMaskFolder:
    """Images and masks paired by file stem (``im_dir/x.jpg`` with ``gt_dir/x.png``), sam-hq's convention.

    Missing folders, images without masks, masks without images and masks of another size are refused with
    the names of the files.
    """

    def __init__(self, name: str, images_dir, masks_dir, image_ext: str = ".jpg", mask_ext: str = ".png"):
        self.name = name
        self.images_dir, self.masks_dir = Path(images_dir), Path(masks_dir)
        for what, folder in (("images", self.images_dir), ("masks", self.masks_dir)):
            if not folder.is_dir():
                raise DatasetError(f"{name}: {what} folder {folder} does not exist")
        images = {p.stem: p for p in self.images_dir.iterdir() if p.suffix.lower() == image_ext.lower()}
        masks = {p.stem: p for p in self.masks_dir.iterdir() if p.suffix.lower() == mask_ext.lower()}
        if not images:
            raise DatasetError(f"{name}: no *{image_ext} images in {self.images_dir}")
        lonely_images = sorted(set(images) - set(masks))
        lonely_masks = sorted(set(masks) - set(images))
        if lonely_images or lonely_masks:
            raise DatasetError(
                f"{name}: unpaired files: {len(lonely_images)} images without a *{mask_ext} mask in {self.masks_dir} "
                f"(e.g. {lonely_images[:3]}), {len(lonely_masks)} masks without a *{image_ext} image in "
                f"{self.images_dir} (e.g. {lonely_masks[:3]})"
            )
        self.stems = sorted(images)
        self._images, self._masks = images, masks

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> dict:
        stem = self.stems[index]
        image = read_rgb(self._images[stem])
        mask = read_binary_mask(self._masks[stem])
        if mask.shape != image.shape[:2]:
            raise DatasetError(
                f"{self.name}: mask {self._masks[stem]} is {mask.shape[1]}x{mask.shape[0]} but image "
                f"{self._images[stem]} is {image.shape[1]}x{image.shape[0]}"
            )
        if not mask.any():
            raise DatasetError(f"{self.name}: mask {self._masks[stem]} is empty")
        return {"image": image, "masks": mask[None], "name": stem, "index": index}


class SyntheticImages:
    """``synthetic_image`` items as a data set: item i is generated from ``seed * 1_000_003 + i``."""

    def __init__(self, name: str = "synthetic", num_images: int = 64, size: int = 256, seed: int = 0, num_objects=None):
        self.name, self.num_images, self.size, self.seed, self.num_objects = name, num_images, size, seed, num_objects

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.num_images:
            raise IndexError(index)
        image, masks = synthetic_image(self.seed * 1_000_003 + index, self.size, self.num_objects)
        return {"image": image, "masks": masks, "name": f"{self.name}_{index:05d}", "index": index}


class ConcatImages:
    """Several image data sets as one (HQSeg-44K is six folders); items keep their global index."""

    def __init__(self, parts: list):
        if not parts:
            raise DatasetError("no training data sets were given")
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> dict:
        part = int(np.searchsorted(self.offsets, index, side="right") - 1)
        item = dict(self.parts[part][index - int(self.offsets[part])])
        item["index"] = index
        return item


# ---------------------------------------------------------------------------------------------- videos


@dataclass
class VideoObject:
    object_id: int
    start: int  # first annotated frame index (position in the frame list) where the object is present
    end: int  # exclusive; lvos-evaluation loops over the annotated frames in range(start, end)
    frame_nums: int | None = None  # the meta's annotated-frame count (the toolkit skips loop index frame_nums - 1)


@dataclass
class VideoSequence:
    """One sequence: frames (paths or arrays), per-frame annotations (label maps) where annotated."""

    name: str
    frame_paths: list = field(default_factory=list)
    annotation_paths: dict = field(default_factory=dict)  # frame position -> label PNG path
    objects: list = field(default_factory=list)
    unseen: bool = False
    frames: np.ndarray | None = None  # in-memory sequences (synthetic): uint8 [T, H, W, 3]
    labels: np.ndarray | None = None  # in-memory label maps: uint8 [T, H, W] (0 background, 255 void)

    def load_frames(self) -> np.ndarray:
        if self.frames is not None:
            return self.frames
        return np.stack([read_rgb(p) for p in self.frame_paths])

    def annotated_frames(self) -> list[int]:
        if self.labels is not None:
            return list(range(self.labels.shape[0]))
        return sorted(self.annotation_paths)

    def label_map(self, position: int) -> np.ndarray:
        if self.labels is not None:
            return self.labels[position]
        try:
            with Image.open(self.annotation_paths[position]) as im:
                return np.asarray(im)  # palette PNG: pixel values are object ids
        except (OSError, ValueError) as e:
            raise DatasetError(f"{self.name}: cannot read annotation {self.annotation_paths[position]}: {e}") from e

    def object_mask(self, position: int, object_id: int) -> np.ndarray:
        return self.label_map(position) == object_id


def _frame_key(value) -> str | None:
    """LVOS meta names frames as '00000035'; accept plain numbers too."""
    if value is None:
        return None
    return f"{int(value):08d}" if isinstance(value, (int, float)) else str(value)


class LVOSDataset:
    """LVOS v1/v2 as LVOS-Benchmark reads it: ``JPEGImages/<seq>/<frame>.jpg``, ``Annotations/<seq>/<frame>.png``
    (palette label maps, annotated every few frames), ``<split>_meta.json`` with each object's frame range,
    and an optional list of unseen-category sequences (the toolkit's ``unseen_videos.txt``)."""

    def __init__(
        self, name: str, root, meta: str | None = None, unseen_list: str | None = None, aggregate: str | None = None
    ):
        self.name, self.root = name, Path(root)
        self.aggregate = aggregate or VIDEO_AGGREGATES[0]
        if self.aggregate not in VIDEO_AGGREGATES:
            raise DatasetError(f"{name}: aggregate must be one of {VIDEO_AGGREGATES}, got {self.aggregate!r}")
        if not self.root.is_dir():
            raise DatasetError(f"{name}: LVOS folder {self.root} does not exist")
        meta_path = self.root / (meta or f"{self.root.name}_meta.json")
        for need in (self.root / "JPEGImages", self.root / "Annotations", meta_path):
            if not need.exists():
                raise DatasetError(
                    f"{name}: {need} is missing (expected LVOS's JPEGImages/, Annotations/ and meta JSON)"
                )
        try:
            videos = json.loads(meta_path.read_text())["videos"]
        except (ValueError, KeyError) as e:
            raise DatasetError(f"{name}: {meta_path} is not an LVOS meta file with a 'videos' key: {e}") from e
        if self.aggregate == "seen-unseen" and unseen_list is None:
            raise DatasetError(
                f"{name}: the seen/unseen mean needs the unseen-category list (unseen_list, the toolkit's "
                "unseen_videos.txt); or set aggregate: all-objects"
            )
        unseen = set()
        if unseen_list is not None:
            path = self.root / unseen_list
            if not path.is_file():
                raise DatasetError(f"{name}: unseen list {path} does not exist")
            unseen = {line.strip() for line in path.read_text().splitlines() if line.strip()}
        self.sequences = [self._sequence(seq, info, seq in unseen) for seq, info in sorted(videos.items())]

    def _sequence(self, seq: str, info: dict, unseen: bool) -> VideoSequence:
        frames = sorted((self.root / "JPEGImages" / seq).glob("*.jpg"))
        if not frames:
            raise DatasetError(f"{self.name}: no frames in {self.root / 'JPEGImages' / seq}")
        position = {p.stem: i for i, p in enumerate(frames)}
        annotations = {}
        for png in sorted((self.root / "Annotations" / seq).glob("*.png")):
            if png.stem not in position:
                raise DatasetError(f"{self.name}: annotation {png} has no frame {png.stem}.jpg")
            annotations[position[png.stem]] = png
        objects = []
        for obj_id, obj in sorted(info.get("objects", {}).items(), key=lambda kv: int(kv[0])):
            rng = obj.get("frame_range", {})
            start = position.get(_frame_key(rng.get("start")), min(annotations) if annotations else 0)
            end = position.get(_frame_key(rng.get("end")), len(frames))
            count = rng.get("frame_nums")
            objects.append(VideoObject(int(obj_id), start, end, None if count is None else int(count)))
        return VideoSequence(seq, frames, annotations, objects, unseen)

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self):
        return iter(self.sequences)


def synthetic_video_set(
    name: str = "synthetic-video",
    num_sequences: int = 4,
    num_frames: int = 6,
    size: int = 128,
    seed: int = 0,
    unseen_every: int = 2,
) -> list[VideoSequence]:
    """In-memory sequences from ``synthetic_video``; every ``unseen_every``-th one is marked unseen."""
    out = []
    for i in range(num_sequences):
        frames, masks = synthetic_video(seed * 1_000_003 + i, num_frames, size)
        labels = np.zeros(masks.shape[:1] + masks.shape[2:], np.uint8)
        for k in range(masks.shape[1]):
            labels[masks[:, k]] = k + 1
        objects = [VideoObject(k + 1, 0, num_frames) for k in range(masks.shape[1])]
        out.append(
            VideoSequence(
                f"{name}_{i:03d}",
                objects=objects,
                unseen=(i % unseen_every == unseen_every - 1),
                frames=frames,
                labels=labels,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------- manifest


def load_manifest(path) -> dict:
    """A YAML or JSON manifest naming the data sets::

        root: /data/sam-hq             # relative folders below are under this (default: the manifest's folder)
        train:                          # image sets to train on
          DIS5K-TR: {images: DIS5K/DIS-TR/im, masks: DIS5K/DIS-TR/gt}
          my-set:   {images: mine/im, masks: mine/gt, image_ext: .png}
        test:                           # image sets of Table 1 / 3 / 4, in column order
          DIS-VD: {images: DIS5K/DIS-VD/im, masks: DIS5K/DIS-VD/gt}
        video:                          # LVOS-style video sets
          LVOS-v1: {root: LVOS/v1/valid, meta: valid_meta.json, unseen_list: unseen_videos.txt}
          LVOS-v2: {root: LVOS/v2/valid, unseen_list: unseen_videos.txt}

    ``aggregate`` (video): ``seen-unseen`` (the default; lvos-evaluation for v1 and v2: J&F = mean of J_s, F_s,
    J_u, F_u; needs ``unseen_list``) or ``all-objects`` (DAVIS: J&F = (J + F) / 2 over all objects).
    ``layout: hqseg44k`` (with ``root``) fills in HQ-SAM's folders for train/test and LVOS under root/LVOS.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"manifest {path} does not exist")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DatasetError(f"manifest {path} is not valid YAML/JSON: {e}") from e
    if not isinstance(doc, dict):
        raise DatasetError(f"manifest {path}: expected a mapping at the top level")
    root = Path(doc.get("root", ".")).expanduser()
    root = root if root.is_absolute() else (path.parent / root)
    manifest = {"root": root, "train": {}, "test": {}, "video": {}}
    if doc.get("layout") == "hqseg44k":
        manifest["train"] = {k: {"images": i, "masks": m} for k, (i, m) in HQSEG44K_TRAIN.items()}
        manifest["test"] = {k: {"images": i, "masks": m} for k, (i, m) in IMAGE_TEST_SETS.items()}
        manifest["video"] = {k: {"root": r, "unseen_list": "unseen_videos.txt"} for k, r in LVOS_SETS.items()}
    elif doc.get("layout") not in (None, "custom"):
        raise DatasetError(f"manifest {path}: unknown layout {doc.get('layout')!r} (use 'hqseg44k' or leave it out)")
    for section in ("train", "test", "video"):
        entries = doc.get(section) or {}
        if not isinstance(entries, dict):
            raise DatasetError(f"manifest {path}: '{section}' must map data set names to folders")
        manifest[section].update(entries)
    return manifest


def _under(root: Path, value) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else root / p


def open_image_set(manifest: dict, section: str, name: str) -> ImageMaskFolder:
    entry = manifest[section].get(name)
    if entry is None:
        raise DatasetError(
            f"data set {name!r} is not in the manifest's '{section}' section (has {sorted(manifest[section])})"
        )
    try:
        return ImageMaskFolder(
            name,
            _under(manifest["root"], entry["images"]),
            _under(manifest["root"], entry["masks"]),
            entry.get("image_ext", ".jpg"),
            entry.get("mask_ext", ".png"),
        )
    except KeyError as e:
        raise DatasetError(f"manifest entry {name!r} needs 'images' and 'masks' folders") from e


def open_video_set(manifest: dict, name: str) -> LVOSDataset:
    entry = manifest["video"].get(name)
    if entry is None:
        raise DatasetError(f"video set {name!r} is not in the manifest (has {sorted(manifest['video'])})")
    return LVOSDataset(
        name,
        _under(manifest["root"], entry["root"]),
        entry.get("meta"),
        entry.get("unseen_list"),
        entry.get("aggregate"),
    )


__all__ = [
    "HQSEG44K_TRAIN",
    "IMAGE_TEST_SETS",
    "LVOS_SETS",
    "ConcatImages",
    "DatasetError",
    "ImageMaskFolder",
    "LVOSDataset",
    "SyntheticImages",
    "VideoObject",
    "VideoSequence",
    "VIDEO_AGGREGATES",
    "load_manifest",
    "open_image_set",
    "open_video_set",
    "read_binary_mask",
    "read_rgb",
    "synthetic_video_set",
]
