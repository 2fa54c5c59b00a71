"""Ground-truth masks are read as SysCV/sam-hq reads them (at fb181f8): channel 0 of the PNG
(train/utils/dataloader.py line 248, ``gt[:, :, 0]`` of a colour PNG), foreground above 128
(train/utils/misc.py lines 489 and 530, ``label > 128`` in mask_iou and boundary_iou)."""

import numpy as np
from PIL import Image

from sam2refiner.model.evaluation.metrics import boundary_iou, mask_iou
from sam2refiner.model.training.datasets import ImageMaskFolder, read_binary_mask


def save(path, array, mode=None):
    Image.fromarray(np.asarray(array, np.uint8), mode).save(path)
    return path


def test_grey_128_is_background_and_129_foreground(tmp_path):
    png = save(tmp_path / "m.png", [[0, 127, 128, 129, 200, 255]])
    assert read_binary_mask(png).tolist() == [[False, False, False, True, True, True]]


def test_a_colour_mask_is_read_from_its_first_channel(tmp_path):
    # red (255, 0, 0) is foreground as in sam-hq (its luminance, 76, is not); green (0, 255, 0) is background
    png = save(tmp_path / "rgb.png", [[[255, 0, 0], [0, 255, 0], [129, 0, 0], [128, 255, 255]]])
    assert read_binary_mask(png).tolist() == [[True, False, True, False]]


def test_zero_one_masks_keep_every_nonzero_pixel(tmp_path):
    # not sam-hq's (its > 128 reads a 0/1 PNG as empty); kept because such masks are common outside its sets
    assert read_binary_mask(save(tmp_path / "01.png", [[0, 1, 1, 0]])).tolist() == [[False, True, True, False]]


def test_image_scores_see_the_thresholded_ground_truth(tmp_path):
    """A 4x4 object at 255 with a one-pixel ring at 128 around it (an anti-aliased edge): the ring is background,
    so predicting exactly the 4x4 square scores IoU and boundary IoU 1 (with the ring as object: 16 / 36)."""
    (tmp_path / "im").mkdir()
    (tmp_path / "gt").mkdir()
    gt = np.zeros((12, 12), np.uint8)
    gt[3:9, 3:9] = 128
    gt[4:8, 4:8] = 255
    save(tmp_path / "gt" / "a.png", gt)
    save(tmp_path / "im" / "a.jpg", np.zeros((12, 12, 3)))
    item = ImageMaskFolder("toy", tmp_path / "im", tmp_path / "gt")[0]
    pred = np.zeros((12, 12), bool)
    pred[4:8, 4:8] = True
    assert item["masks"].shape == (1, 12, 12)
    assert mask_iou(pred, item["masks"][0]) == 1.0 and boundary_iou(pred, item["masks"][0]) == 1.0
