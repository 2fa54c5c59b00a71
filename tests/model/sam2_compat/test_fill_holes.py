"""SAM 2's hole filling without sam2's extension (model/sam2_compat/fill_holes.py) against a straightforward reference."""

from __future__ import annotations

import warnings
from collections import deque

import numpy as np
import pytest
import sam2.utils.misc as sam2_misc
import torch
from sam2.utils.transforms import SAM2Transforms

from sam2refiner.model.sam2_compat.fill_holes import connected_components, fill_holes, install

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def hooked():
    """sam2 with our hole filling, as the SAM 2 builder installs it (nothing is hooked at import time)."""
    install()


NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def reference_components(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first flood fill with 8-connectivity: (component id per pixel, area per pixel), 0 off the mask."""
    h, w = binary.shape
    ids = np.zeros((h, w), int)
    areas = np.zeros((h, w), int)
    n = 0
    for y in range(h):
        for x in range(w):
            if not binary[y, x] or ids[y, x]:
                continue
            n += 1
            ids[y, x], queue, members = n, deque([(y, x)]), []
            while queue:
                cy, cx = queue.popleft()
                members.append((cy, cx))
                for dy, dx in NEIGHBOURS:
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < h and 0 <= nx < w and binary[ny, nx] and not ids[ny, nx]:
                        ids[ny, nx] = n
                        queue.append((ny, nx))
            for cy, cx in members:
                areas[cy, cx] = len(members)
    return ids, areas


def reference_fill(logits: np.ndarray, max_area: int) -> np.ndarray:
    """sam2's rule written out: background (<= 0) components of at most ``max_area`` pixels get the score 0.1."""
    _, areas = reference_components(logits <= 0)
    return np.where((areas > 0) & (areas <= max_area), np.float32(0.1), logits)


def holes_and_sprinkles() -> np.ndarray:
    """[1, 1, 48, 64] logits: a foreground block with holes of 1..12 px (some diagonal, which 8-connectivity
    joins), foreground sprinkles of 1..12 px outside it, and background touching the border."""
    m = np.full((48, 64), -3.0, np.float32)
    m[2:30, 2:62] = 2.5
    x = 4
    for area in range(1, 13):  # holes as rows of `area` pixels, split over two rows when long
        w = min(area, 6)
        m[5, x : x + w] = -1.0
        if area > 6:
            m[6, x : x + area - 6] = -1.0
        x += 8 if area < 7 else 0
        if area == 7:
            x = 4
    m[15:17, 4:8] = -0.5  # 8 px: exactly the threshold
    m[15:17, 10:14] = -0.5
    m[17, 14] = -0.5  # 9 px through a diagonal neighbour: one component, not filled
    m[20, 20], m[21, 21] = -2.0, -2.0  # two diagonal pixels: one 2-px hole
    m[24, 30:33] = 0.0  # a score of exactly 0 counts as background in sam2
    for k, area in enumerate(range(1, 13)):  # sprinkles below the block
        row, col = 34 + 2 * (k // 6), 2 + 10 * (k % 6)
        m[row, col : col + min(area, 8)] = 1.0
        if area > 8:
            m[row + 1, col : col + area - 8] = 1.0
    m[46:48, 0:3] = 4.0  # foreground touching the border
    return m[None, None]


def random_masks(n=6, size=(20, 24), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1, *size)).astype(np.float32) + rng.uniform(-1, 1, (n, 1, 1, 1)).astype(np.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_components_and_areas_equal_the_flood_fill(device):
    masks = np.concatenate([random_masks(), holes_and_sprinkles()[:, :, :20, :24]]) > 0
    labels, areas = connected_components(torch.from_numpy(masks).to(device))
    assert labels.dtype == areas.dtype == torch.int32 and labels.device.type == device
    labels, areas = labels.cpu().numpy(), areas.cpu().numpy()
    for i in range(len(masks)):
        ids, ref_areas = reference_components(masks[i, 0])
        np.testing.assert_array_equal(areas[i, 0], ref_areas)
        np.testing.assert_array_equal(labels[i, 0] > 0, masks[i, 0])
        # the same partition: one label per reference component and one component per label
        pairs = set(zip(ids[masks[i, 0]].tolist(), labels[i, 0][masks[i, 0]].tolist()))
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("max_area", [1, 7, 8, 9])
def test_sam2s_own_fill_holes_runs_and_matches_the_reference(device, max_area):
    logits = np.concatenate([holes_and_sprinkles()[:, :, :20, :24], random_masks(seed=max_area)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sam2 warns when it skips the step; it must not skip
        ours = sam2_misc.fill_holes_in_mask_scores(torch.from_numpy(logits).to(device), max_area)
    expected = np.stack([reference_fill(m[0], max_area)[None] for m in logits])
    np.testing.assert_array_equal(ours.cpu().numpy(), expected)
    assert (ours.cpu().numpy() != logits).any()  # something was filled


def test_threshold_on_the_full_test_mask():
    logits = holes_and_sprinkles()
    filled = fill_holes(torch.from_numpy(logits), 8).numpy()[0, 0]
    np.testing.assert_array_equal(filled, reference_fill(logits[0, 0], 8))
    assert filled[15, 4] == np.float32(0.1) and filled[15, 10] < 0  # 8 px filled, 9 px (diagonal join) kept
    assert filled[20, 20] == filled[21, 21] == np.float32(0.1) and filled[24, 30] == np.float32(0.1)
    assert (filled[34:38] == logits[0, 0, 34:38]).all()  # the video fill leaves sprinkles alone, as sam2 does
    assert torch.equal(fill_holes(torch.from_numpy(logits), 0), torch.from_numpy(logits))  # 0: off


def test_sam2_transforms_remove_sprinkles_and_fill_holes_through_the_hook():
    logits = torch.from_numpy(holes_and_sprinkles())
    transforms = SAM2Transforms(1024, mask_threshold=0.0, max_hole_area=8, max_sprinkle_area=8)
    out = transforms.postprocess_masks(logits, (48, 64)).numpy()[0, 0]
    m = logits.numpy()[0, 0]
    _, hole_areas = reference_components(m <= 0)
    _, sprinkle_areas = reference_components(m > 0)
    holes = (hole_areas > 0) & (hole_areas <= 8)
    filled = np.where(holes, 10.0, m)  # the holes step, then sprinkles on the ORIGINAL masks (as sam2 does)
    expected = np.where((sprinkle_areas > 0) & (sprinkle_areas <= 8), -10.0, filled).astype(np.float32)
    np.testing.assert_array_equal(out, expected)
    assert out[34, 2] == -10.0 and out[36, 52] == 1.0  # a 1-px sprinkle removed, the 12-px one kept


def test_without_the_hook_sam2_skips_hole_filling_with_a_warning(monkeypatch):
    """What the installed rf-sam-2 does on its own: no sam2._C, so fill_holes_in_mask_scores warns and returns the
    masks unfilled. The hook is what makes it run."""
    install()
    original = sam2_misc.get_connected_components._sam2_original
    monkeypatch.setattr(sam2_misc, "get_connected_components", original)
    logits = torch.from_numpy(holes_and_sprinkles())
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        with pytest.warns(UserWarning, match="Skipping the post-processing step"):
            out = sam2_misc.fill_holes_in_mask_scores(logits, 8)
        assert torch.equal(out, logits)
    else:  # an installation with the extension: its kernel refuses CPU tensors the same way
        with pytest.warns(UserWarning):
            assert torch.equal(sam2_misc.fill_holes_in_mask_scores(logits, 8), logits)
