"""Nothing is patched at import time: importing the model package leaves sam2 (and torch's global flags) as they
were; building SAM 2 installs sam2's hooks explicitly, once. Run in fresh interpreters: the hooks are per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # each test starts a fresh interpreter that imports torch and sam2 (seconds each)

# Every sam2 module, every attribute of each and of each class defined there, and torch's TF32 flags, by identity.
_SNAPSHOT = """
import importlib, pkgutil, sys
import torch
import sam2

for info in pkgutil.walk_packages(sam2.__path__, "sam2."):
    try:
        importlib.import_module(info.name)
    except Exception:
        pass

def snapshot():
    seen = {}
    for name, module in list(sys.modules.items()):
        if name != "sam2" and not name.startswith("sam2."):
            continue
        for attr, value in list(vars(module).items()):
            seen[(name, attr)] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for cattr, cvalue in list(vars(value).items()):
                    seen[(name, attr, cattr)] = id(cvalue)
    seen["tf32"] = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
    )
    return seen
"""


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _SNAPSHOT + textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_importing_the_model_package_leaves_sam2_and_torch_untouched():
    out = _run(
        """
        before = snapshot()
        import sam2refiner.model
        import sam2refiner.model as package
        for info in pkgutil.walk_packages(package.__path__, "sam2refiner.model."):
            importlib.import_module(info.name)
        after = snapshot()
        changed = sorted(str(k) for k in before if after.get(k) != before[k])
        print(len(before), "changed:", changed)
        """
    )
    count, changed = out.split(" changed: ")
    assert int(count) > 500  # the snapshot really covers sam2 (721 names in rf-sam-2 1.0.3)
    assert changed.strip() == "[]"


def test_building_sam2_installs_the_hooks_once():
    out = _run(
        """
        from sam2refiner.model.sam2_compat import build_sam2_base, hooks
        import sam2.utils.misc as misc

        original = misc.get_connected_components
        print(hooks.installed())
        build_sam2_base("hiera_t", 128)
        hook = misc.get_connected_components
        print(hooks.installed(), hook is not original, hook._sam2_original is original)
        build_sam2_base("hiera_t", 128)
        hooks.install()
        print(misc.get_connected_components is hook)
        """
    )
    assert out.split() == ["False", "True", "True", "True", "True"]


def test_sam2_draws_no_progress_bar_and_tracks_the_same():
    """sam2's propagate_in_video drew a tqdm bar on stderr per pass; with the hooks it draws none, and tracks the
    same frames to the same masks as with its bar (sam2's own tqdm put back for the second run)."""
    out = _run(
        """
        import contextlib, io
        import sam2.sam2_video_predictor as vp
        from sam2refiner.model.sam2_compat import build_sam2_base
        from sam2refiner.model.sam2_compat.video_predictor import inference_state, video_predictor

        predictor = video_predictor(build_sam2_base("hiera_t", 128, video=True))
        torch.manual_seed(0)
        frames = [torch.randn(3, 128, 128) for _ in range(3)]

        def track():
            state = inference_state(predictor, frames, 96, 120)
            predictor.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=[[40, 30]], labels=[1])
            err = io.StringIO()
            with contextlib.redirect_stderr(err), torch.inference_mode():
                masks = {t: m.clone() for t, _, m in predictor.propagate_in_video(state)}
            return masks, err.getvalue()

        quiet, quiet_err = track()
        vp.tqdm = vp.tqdm._sam2_original
        loud, loud_err = track()
        print(sorted(quiet) == sorted(loud) == [0, 1, 2], all(torch.equal(quiet[t], loud[t]) for t in quiet))
        print(repr(quiet_err), "propagate in video" in loud_err)
        """
    )
    assert out.split("\n")[:2] == ["True True", "'' True"], out
