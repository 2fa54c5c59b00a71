"""sam2's progress bars off: ``SAM2VideoPredictor.propagate_in_video`` wraps its frames in ``tqdm(...,
desc="propagate in video")`` and ``init_state``'s frame loader in ``tqdm(..., desc="frame loading (JPEG)")``, a
bar on the process's stderr for every propagation pass (every pass of a file session, in a server's log). sam2
takes no argument to turn them off, and tqdm's own switch (``TQDM_DISABLE``) is read once, when tqdm is imported,
for every bar of the process (ours included).

``install()`` (through ``hooks.install``, never at import time) points the ``tqdm`` those two sam2 modules look up
at call time at tqdm with ``disable=True``: a disabled tqdm yields its iterable's items as they are and writes
nothing, so sam2 runs the same steps on the same frames.
"""

from __future__ import annotations

import importlib
import threading
from functools import partial

MODULES = ("sam2.sam2_video_predictor", "sam2.utils.misc")

_install_lock = threading.Lock()


def _quiet(module) -> bool:
    return getattr(module.tqdm, "_sam2refiner_quiet", False)


def installed() -> bool:
    """Whether every sam2 module of ``MODULES`` draws no bar (``install``)."""
    return all(_quiet(importlib.import_module(name)) for name in MODULES)


def install() -> None:
    """Turns sam2's progress bars off (idempotent)."""
    with _install_lock:
        for name in MODULES:
            module = importlib.import_module(name)
            if not _quiet(module):
                quiet = partial(module.tqdm, disable=True)
                quiet._sam2refiner_quiet = True
                quiet._sam2_original = module.tqdm
                module.tqdm = quiet
