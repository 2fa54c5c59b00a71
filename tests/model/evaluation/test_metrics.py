"""Metrics against answers computed by hand (see the comments for each count)."""

import numpy as np
import pytest

from sam2refiner.model.evaluation.metrics import (
    boundary_dilation,
    boundary_f,
    boundary_iou,
    boundary_tolerance,
    mask_iou,
    mask_to_boundary,
    one_pixel_contour,
)


def blank(h=20, w=20):
    return np.zeros((h, w), bool)


def square(top, left, side, h=20, w=20):
    m = blank(h, w)
    m[top : top + side, left : left + side] = True
    return m


def test_empty_and_full():
    empty, full = blank(), ~blank()
    assert mask_iou(empty, empty) == 1.0 and boundary_iou(empty, empty) == 1.0
    assert mask_iou(empty, full) == 0.0 and boundary_iou(full, empty) == 0.0
    assert mask_iou(full, full) == 1.0 and boundary_iou(full, full) == 1.0
    # diag 28.3 -> d = max(1, round(0.57)) = 1; the full mask's band is its 1-pixel frame: 400 - 18*18 = 76
    assert boundary_dilation(20, 20) == 1
    assert mask_to_boundary(full).sum() == 76


def test_one_pixel_lines():
    line = blank()
    line[5, 2:12] = True  # 10 pixels, all boundary (eroding once removes the whole line)
    assert mask_to_boundary(line).sum() == 10
    assert mask_iou(line, line) == 1.0 and boundary_iou(line, line) == 1.0
    shifted = np.roll(line, 1, axis=0)
    assert mask_iou(line, shifted) == 0.0 and boundary_iou(line, shifted) == 0.0
    longer = line.copy()
    longer[5, 12:17] = True  # 15 pixels containing the 10
    assert mask_iou(line, longer) == pytest.approx(10 / 15)
    assert boundary_iou(line, longer) == pytest.approx(10 / 15)


def test_holes():
    ring = square(5, 5, 7)
    ring[8, 8] = False  # a 7x7 block (49 px) with a one-pixel hole: 48 px
    # erosion keeps the 5x5 interior (25) minus the hole's 3x3 neighbourhood (9) = 16 -> band = 48 - 16 = 32
    assert mask_to_boundary(ring).sum() == 32
    solid = square(5, 5, 7)
    # solid band: 49 - 25 = 24; the bands share 24 pixels, their union is 32
    assert boundary_iou(ring, solid) == pytest.approx(24 / 32)
    assert mask_iou(ring, solid) == pytest.approx(48 / 49)


def test_dilation_scales_with_the_diagonal():
    # 200x200: d = round(0.02 * 282.8) = round(5.66) = 6 -> a 40x40 square keeps a 28x28 core: 1600 - 784 = 816
    assert boundary_dilation(200, 200) == 6
    assert mask_to_boundary(square(50, 50, 40, 200, 200)).sum() == 816
    # object pixels on the image border count as boundary (the mask is padded with background)
    assert mask_to_boundary(square(0, 0, 20, 200, 200))[0, 10]


def test_biou_of_itself_is_one_and_drops_when_shifted_by_one_pixel():
    m = square(50, 50, 40, 200, 200)
    assert boundary_iou(m, m) == 1.0
    shifted = np.roll(m, 1, axis=1)
    # squares overlap in 40x39 = 1560 px; the two cores together cover 28x29 = 812 of them, so the bands share
    # 1560 - 812 = 748 px; union = 816 + 816 - 748 = 884
    assert boundary_iou(m, shifted) == pytest.approx(748 / 884)
    assert mask_iou(m, shifted) == pytest.approx(39 * 40 / (41 * 40))


def test_shape_mismatch_and_bad_dims_are_refused():
    with pytest.raises(ValueError, match="differ in size"):
        mask_iou(blank(10, 10), blank(10, 11))
    with pytest.raises(ValueError, match="2-D"):
        boundary_iou(np.zeros((2, 10, 10)), np.zeros((2, 10, 10)))


def test_one_pixel_contour_of_a_square():
    # 5x5 square at rows/cols 5..9: the mixed 2x2 windows start at rows/cols 4..9 but not 5..8: 36 - 16 = 20
    assert one_pixel_contour(square(5, 5, 5)).sum() == 20
    assert one_pixel_contour(blank()).sum() == 0


def test_boundary_f_hand_cases():
    a = square(5, 5, 5)
    assert boundary_tolerance(20, 20) == 1  # ceil(0.008 * 28.3) = 1
    assert boundary_f(a, a) == 1.0
    assert boundary_f(blank(), blank()) == 1.0
    assert boundary_f(blank(), a) == 0.0 and boundary_f(a, blank()) == 0.0
    # one pixel to the right: every contour pixel has a partner within radius 1
    assert boundary_f(np.roll(a, 1, axis=1), a) == 1.0
    # three pixels to the right: the contours are the frames of 6x6 boxes at cols 4..9 and 7..12 (rows 4..9); a
    # pixel matches when the other frame has a pixel at it or a 4-neighbour (disk of radius 1). In each of the
    # top and bottom rows 4 of 6 pixels match (cols 6..9 of the first frame, 7..10 of the second); of the 8 side
    # pixels only the 2 of the inner side next to a corner row match (e.g. (5, 9) touches (4, 9)): P = R = 10/20
    assert boundary_f(np.roll(a, 3, axis=1), a) == pytest.approx(0.5)
    # ten pixels away nothing matches
    assert boundary_f(np.roll(a, 10, axis=1), a) == 0.0
