"""Synthetic fine-structure images and videos with exact masks, generated from a seed.

The shapes are the ones the paper targets (sec. 1): thin curves, wires, meshes, branching structures and
objects with holes, drawn over textured backgrounds. Masks are rasterised without anti-aliasing and the
image takes an object's colour exactly where its mask is set, so the masks are the ground truth pixel for
pixel. Objects are painted in order and each later one occludes the earlier ones: masks never overlap.

    image, masks = synthetic_image(seed=3, size=256)                 # uint8 [H, W, 3], bool [K, H, W]
    frames, masks = synthetic_video(seed=3, num_frames=8, size=256)  # uint8 [T, H, W, 3], bool [T, K, H, W]

Everything is a pure function of its arguments (numpy ``default_rng(seed)``), so tests can regenerate data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

SHAPE_KINDS = ("curve", "wire", "mesh", "branch", "holed")


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(v) for v in size)
    if h < 32 or w < 32:
        raise ValueError(f"size: synthetic images need at least 32x32 pixels, got {h}x{w}")
    return h, w


def _line_width(rng: np.random.Generator, h: int, w: int, low: int = 1, high: int = 3) -> int:
    """A stroke 1-3 px wide at 256 px, scaled with the image so structures stay thin relative to it."""
    scale = max(1.0, min(h, w) / 256)
    return max(1, int(round(rng.integers(low, high + 1) * scale)))


def _draw_polyline(mask: np.ndarray, pts: np.ndarray, width: int) -> None:
    cv2.polylines(
        mask, [np.round(pts).astype(np.int32).reshape(-1, 1, 2)], False, 1, thickness=width, lineType=cv2.LINE_8
    )


def _region(rng: np.random.Generator, h: int, w: int, frac: tuple[float, float] = (0.35, 0.7)):
    """A random box (x0, y0, bw, bh) covering ``frac`` of each side, fully inside the image."""
    bw = int(w * rng.uniform(*frac))
    bh = int(h * rng.uniform(*frac))
    x0 = int(rng.integers(0, w - bw + 1))
    y0 = int(rng.integers(0, h - bh + 1))
    return x0, y0, bw, bh


# ---------------------------------------------------------------------------------------------- shapes
# Each shape function draws one object into a fresh uint8 mask [H, W] and returns it as bool.


def thin_curve(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth open curve (a cubic Bezier through four random control points), 1-3 px wide."""
    x0, y0, bw, bh = _region(rng, h, w, (0.4, 0.9))
    ctrl = np.stack([x0 + rng.uniform(0, bw, 4), y0 + rng.uniform(0, bh, 4)], axis=1)
    t = np.linspace(0, 1, 200)[:, None]
    pts = ((1 - t) ** 3) * ctrl[0] + 3 * ((1 - t) ** 2) * t * ctrl[1] + 3 * (1 - t) * t**2 * ctrl[2] + t**3 * ctrl[3]
    mask = np.zeros((h, w), np.uint8)
    _draw_polyline(mask, pts, _line_width(rng, h, w))
    return mask.astype(bool)


def wire(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One to three sagging wires (catenary-like arcs) spanning most of the image, 1-2 px wide."""
    mask = np.zeros((h, w), np.uint8)
    x0, y0, bw, bh = _region(rng, h, w, (0.6, 0.95))
    width = _line_width(rng, h, w, 1, 2)
    for _ in range(int(rng.integers(1, 4))):
        xs = np.linspace(x0, x0 + bw - 1, 120)
        ya, yb = y0 + rng.uniform(0, bh, 2)
        sag = rng.uniform(0.05, 0.3) * bh
        u = np.linspace(-1, 1, xs.size)
        ys = ya + (yb - ya) * (u + 1) / 2 + sag * (1 - u**2)
        _draw_polyline(mask, np.stack([xs, np.clip(ys, 0, h - 1)], 1), width)
    return mask.astype(bool)


def mesh(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A fence or net: a rotated lattice of thin bars inside a frame, with open cells between them."""
    x0, y0, bw, bh = _region(rng, h, w, (0.35, 0.6))
    cx, cy = x0 + bw / 2, y0 + bh / 2
    pitch = max(5.0, min(bw, bh) / rng.uniform(4, 9))
    width = _line_width(rng, h, w, 1, 2)
    angle = rng.uniform(0, math.pi)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    half_w, half_h = bw / 2, bh / 2
    segments = []
    for x in np.arange(-half_w, half_w + 1e-6, pitch):
        segments.append(((x, -half_h), (x, half_h)))
    for y in np.arange(-half_h, half_h + 1e-6, pitch):
        segments.append(((-half_w, y), (half_w, y)))
    segments += [
        ((-half_w, -half_h), (half_w, -half_h)),
        ((-half_w, half_h), (half_w, half_h)),
        ((-half_w, -half_h), (-half_w, half_h)),
        ((half_w, -half_h), (half_w, half_h)),
    ]
    mask = np.zeros((h, w), np.uint8)
    for a, b in segments:
        pts = np.array([a, b]) @ rot.T + (cx, cy)
        _draw_polyline(mask, pts, width)
    return mask.astype(bool)


def branching(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A tree (trunk, branches, twigs) whose strokes thin out towards the tips, like a plant or a crack."""
    mask = np.zeros((h, w), np.uint8)
    base = np.array([rng.uniform(0.3, 0.7) * w, rng.uniform(0.75, 0.95) * h])
    length = rng.uniform(0.2, 0.35) * min(h, w)
    width = _line_width(rng, h, w, 2, 4)
    stack = [(base, -math.pi / 2 + rng.uniform(-0.3, 0.3), length, width, 0)]
    while stack:
        start, angle, ln, wd, depth = stack.pop()
        end = start + ln * np.array([math.cos(angle), math.sin(angle)])
        _draw_polyline(mask, np.stack([start, end]), wd)
        if depth < 4 and ln > 4:
            for _ in range(int(rng.integers(2, 4))):
                stack.append(
                    (end, angle + rng.uniform(-0.8, 0.8), ln * rng.uniform(0.5, 0.75), max(1, wd - 1), depth + 1)
                )
    return mask.astype(bool)


def holed_object(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A filled blob (ellipse or polygon) with several holes punched through it, or a thin ring."""
    mask = np.zeros((h, w), np.uint8)
    x0, y0, bw, bh = _region(rng, h, w, (0.3, 0.55))
    center = (int(x0 + bw / 2), int(y0 + bh / 2))
    axes = (max(4, bw // 2), max(4, bh // 2))
    if rng.random() < 0.25:  # a ring: the hole is most of the object
        cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=_line_width(rng, h, w, 2, 5))
        return mask.astype(bool)
    if rng.random() < 0.5:
        cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
    else:
        angles = np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(5, 9))))
        radii = rng.uniform(0.6, 1.0, angles.size)
        pts = np.stack([center[0] + radii * axes[0] * np.cos(angles), center[1] + radii * axes[1] * np.sin(angles)], 1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    ys, xs = np.nonzero(mask)
    for _ in range(int(rng.integers(2, 7))):
        i = int(rng.integers(0, ys.size))
        radius = max(2, int(rng.uniform(0.05, 0.2) * min(axes)))
        cv2.circle(mask, (int(xs[i]), int(ys[i])), radius, 0, thickness=-1)
    return mask.astype(bool)


SHAPES: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "curve": thin_curve,
    "wire": wire,
    "mesh": mesh,
    "branch": branching,
    "holed": holed_object,
}


# ---------------------------------------------------------------------------------------------- textures


def textured_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour blotches + oriented stripes + grain, float32 [H, W, 3] in 0..255."""
    coarse = rng.uniform(40, 215, (int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3)).astype(np.float32)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, 3))):
        theta, period = rng.uniform(0, math.pi), rng.uniform(6, 40) * max(1.0, min(h, w) / 256)
        stripes = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * 2 * math.pi / period)
        img += rng.uniform(5, 25) * stripes[..., None] * rng.uniform(0.5, 1.0, 3).astype(np.float32)
    img += rng.normal(0, rng.uniform(3, 12), (h, w, 3)).astype(np.float32)
    return img


def object_appearance(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An object's colour field: one base colour with a mild gradient and grain, float32 [H, W, 3]."""
    base = rng.uniform(0, 255, 3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gradient = (xx / w - 0.5) * rng.uniform(-30, 30) + (yy / h - 0.5) * rng.uniform(-30, 30)
    return base + gradient[..., None] + rng.normal(0, 4, (h, w, 3)).astype(np.float32)


def _contrasting(
    rng: np.random.Generator, appearance: np.ndarray, background: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Shifts the object's colour away from the background under it, so thin parts stay visible."""
    if mask.any():
        gap = appearance[mask].mean(0) - background[mask].mean(0)
        if np.linalg.norm(gap) < 60:
            direction = gap / (np.linalg.norm(gap) + 1e-6) if np.linalg.norm(gap) > 1 else rng.choice([-1.0, 1.0], 3)
            appearance = appearance + (60 - np.linalg.norm(gap)) * direction.astype(np.float32)
    return appearance


def _pick_kinds(rng: np.random.Generator, num_objects: int, kinds) -> list[str]:
    kinds = tuple(kinds)
    unknown = sorted(set(kinds) - set(SHAPES))
    if unknown or not kinds:
        raise ValueError(f"kinds: unknown shape kinds {unknown}; choose from {list(SHAPE_KINDS)}")
    return [kinds[int(rng.integers(0, len(kinds)))] for _ in range(num_objects)]


def _compose(background: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Paints (mask [H,W] bool, colour [H,W,3]) layers in order; returns uint8 image and exclusive masks."""
    img = background.copy()
    masks = np.zeros((len(layers), *background.shape[:2]), bool)
    for k, (mask, colour) in enumerate(layers):
        img[mask] = colour[mask]
        masks[:k, mask] = False  # the new object occludes those below it
        masks[k] = mask
    return np.clip(np.round(img), 0, 255).astype(np.uint8), masks


def _object_count(rng: np.random.Generator, num_objects: int | None) -> int:
    if num_objects is None:
        return int(rng.integers(1, 4))
    if num_objects < 1:
        raise ValueError(f"num_objects: need at least 1, got {num_objects}")
    return int(num_objects)


def _draw_nonempty(rng: np.random.Generator, kind: str, h: int, w: int) -> np.ndarray:
    for _ in range(10):
        mask = SHAPES[kind](rng, h, w)
        if mask.sum() >= 8:
            return mask
    raise RuntimeError(f"could not draw a non-empty {kind} at {h}x{w}")  # never seen in practice


def synthetic_image(
    seed: int,
    size: int | tuple[int, int] = 256,
    num_objects: int | None = None,
    kinds=SHAPE_KINDS,
) -> tuple[np.ndarray, np.ndarray]:
    """One image with 1-3 (or ``num_objects``) fine-structure objects.

    Returns image uint8 [H, W, 3] (RGB) and masks bool [K, H, W] (exclusive; the last object is on top; a
    mask can lose pixels to occlusion but keeps at least some, since objects are thin or holed).
    """
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    background = textured_background(rng, h, w)
    layers = []
    for kind in _pick_kinds(rng, _object_count(rng, num_objects), kinds):
        mask = _draw_nonempty(rng, kind, h, w)
        layers.append((mask, _contrasting(rng, object_appearance(rng, h, w), background, mask)))
    return _compose(background, layers)


def _bounce(x: np.ndarray, limit: float) -> np.ndarray:
    """Triangle wave in [-limit, limit]: a displacement that reflects at the bounds instead of leaving."""
    period = 4 * limit
    y = np.mod(x + limit, period)
    return np.where(y < 2 * limit, y - limit, 3 * limit - y)


def synthetic_video(
    seed: int,
    num_frames: int = 8,
    size: int | tuple[int, int] = 256,
    num_objects: int | None = None,
    kinds=SHAPE_KINDS,
    max_shift: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """A short clip of fine-structure objects drifting and turning over a slowly panning textured background.

    Each object moves rigidly (translation + rotation, nearest-neighbour warps so masks stay exact); its
    displacement bounces within ``max_shift`` of the image side so no object leaves the frame for good.
    Returns frames uint8 [T, H, W, 3] and masks bool [T, K, H, W] (K objects, same order in every frame).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames: need at least 1, got {num_frames}")
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    pad = int(round(max_shift * max(h, w))) + 2
    big_bg = textured_background(rng, h + 2 * pad, w + 2 * pad)
    bg_velocity = rng.uniform(-0.5, 0.5, 2) * max(1.0, min(h, w) / 256)
    objects = []
    for kind in _pick_kinds(rng, _object_count(rng, num_objects), kinds):
        mask = _draw_nonempty(rng, kind, h, w)
        ys, xs = np.nonzero(mask)
        objects.append(
            {
                "mask": mask.astype(np.uint8),
                "colour": _contrasting(rng, object_appearance(rng, h, w), big_bg[pad : pad + h, pad : pad + w], mask),
                "center": (float(xs.mean()), float(ys.mean())),
                "velocity": rng.uniform(-1, 1, 2) * rng.uniform(0.005, 0.02) * max(h, w),
                "spin": rng.uniform(-2.0, 2.0),  # degrees per frame
            }
        )
    frames = np.zeros((num_frames, h, w, 3), np.uint8)
    masks = np.zeros((num_frames, len(objects), h, w), bool)
    limit = max_shift * max(h, w)
    for t in range(num_frames):
        ox, oy = np.clip(np.round(pad + bg_velocity * t), 0, 2 * pad).astype(int)
        background = big_bg[oy : oy + h, ox : ox + w]
        layers = []
        for obj in objects:
            dx, dy = _bounce(obj["velocity"] * t, limit)
            warp = cv2.getRotationMatrix2D(obj["center"], obj["spin"] * t, 1.0)
            warp[:, 2] += (dx, dy)
            m = cv2.warpAffine(obj["mask"], warp, (w, h), flags=cv2.INTER_NEAREST, borderValue=0).astype(bool)
            c = cv2.warpAffine(obj["colour"], warp, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
            layers.append((m, c))
        frames[t], masks[t] = _compose(background, layers)
    return frames, masks


__all__ = ["SHAPE_KINDS", "SHAPES", "synthetic_image", "synthetic_video", "textured_background"]
