"""The paper's evaluation (``python -m sam2refiner.model.evaluate``): metrics.py (after sam-hq, boundary-iou-api, DAVIS 2017),
image_eval.py (Tables 1 / 3 / 4 protocols), video_eval.py (J, F, J&F, LVOS seen / unseen), tables.py (Markdown)."""
