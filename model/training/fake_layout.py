"""Writes synthetic data sets to disk in the real data sets' layouts (HQ-SAM's folders, LVOS's), with a manifest.

For tests and for trying the CLIs without the real data:

    python -m sam2refiner.model.training.fake_layout /tmp/fake --images 4 --size 256
    python -m sam2refiner.model.evaluate --manifest /tmp/fake/manifest.yaml --config hiera_t --image-size 256
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .datasets import HQSEG44K_TRAIN, IMAGE_TEST_SETS
from .synthetic import SHAPE_KINDS, synthetic_image, synthetic_video


def _write_image_set(images_dir: Path, masks_dir: Path, count: int, size: int, seed: int) -> None:
    images_dir.mkdir(parents=True, exist_ok=True)
    masks_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, masks = synthetic_image(seed * 1_000_003 + i, size, num_objects=1)
        stem = f"{i:05d}"
        # PNG images (the manifest says so): JPEG would blur one-pixel structures away from their exact masks
        Image.fromarray(image).save(images_dir / f"{stem}.png")
        Image.fromarray((masks[0] * 255).astype(np.uint8)).save(masks_dir / f"{stem}.png")


def write_fake_layout(
    root,
    images_per_set: int = 3,
    size: int = 256,
    videos: int = 2,
    frames: int = 6,
    train: bool = False,
    seed: int = 0,
    video_kinds=SHAPE_KINDS,
) -> Path:
    """Test sets (and optionally HQSeg-44K's training folders) plus two LVOS-style video sets under ``root``;
    returns the manifest path. Each image holds one object, as in the real sets; ``video_kinds`` picks the
    videos' shapes (``synthetic.SHAPES``)."""
    root = Path(root)
    doc = {"root": ".", "train": {}, "test": {}, "video": {}}
    groups = [("test", IMAGE_TEST_SETS)] + ([("train", HQSEG44K_TRAIN)] if train else [])
    for g, (section, sets) in enumerate(groups):
        for j, (name, (im, gt)) in enumerate(sets.items()):
            if im == gt:  # cascade_psp keeps images and masks side by side; keep the pairing by stem apart
                gt = im + "_masks"
            _write_image_set(root / im, root / gt, images_per_set, size, seed + 100 * g + j)
            doc[section][name] = {"images": im, "masks": gt, "image_ext": ".png", "mask_ext": ".png"}
    for v, name in enumerate(("LVOS-v1", "LVOS-v2")):
        split = root / "LVOS" / name[-2:] / "valid"
        meta = {"videos": {}}
        unseen = []
        for s in range(videos):
            seq = f"seq{s:02d}"
            clip, masks = synthetic_video(seed * 7919 + v * 101 + s, frames, size, kinds=video_kinds)
            (split / "JPEGImages" / seq).mkdir(parents=True, exist_ok=True)
            (split / "Annotations" / seq).mkdir(parents=True, exist_ok=True)
            objects = {}
            for t in range(frames):
                Image.fromarray(clip[t]).save(split / "JPEGImages" / seq / f"{t:08d}.jpg", quality=95)
                labels = np.zeros(masks.shape[2:], np.uint8)
                for k in range(masks.shape[1]):
                    labels[masks[t, k]] = k + 1
                Image.fromarray(labels).save(split / "Annotations" / seq / f"{t:08d}.png")
            for k in range(masks.shape[1]):
                objects[str(k + 1)] = {
                    "frame_range": {"start": "00000000", "end": f"{frames - 1:08d}", "frame_nums": frames}
                }
            meta["videos"][seq] = {"objects": objects}
            if s % 2 == 1:
                unseen.append(seq)
        (split / "valid_meta.json").write_text(json.dumps(meta))
        (split / "unseen_videos.txt").write_text("\n".join(unseen) + "\n")
        doc["video"][name] = {
            "root": str(split.relative_to(root)),
            "meta": "valid_meta.json",
            "unseen_list": "unseen_videos.txt",
        }
    manifest = root / "manifest.yaml"
    import yaml

    manifest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Write synthetic data sets in HQ-SAM's and LVOS's layouts")
    p.add_argument("root")
    p.add_argument("--images", type=int, default=3, help="images per data set")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--videos", type=int, default=2)
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--train", action="store_true", help="also write HQSeg-44K's training folders")
    a = p.parse_args(argv)
    print(write_fake_layout(a.root, a.images, a.size, a.videos, a.frames, a.train))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
