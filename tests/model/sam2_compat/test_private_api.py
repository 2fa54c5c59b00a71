"""sam2's private API as we call it: the installed rf-sam-2 has the signatures our wrappers pass by name, and no
module outside model/sam2_compat calls a private method of anything but itself or imports sam2 from the service."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from sam2refiner.model.sam2_compat import private
from sam2refiner.model.sam2_compat.private import PRIVATE_METHODS, signature_mismatches

REPO = Path(__file__).resolve().parents[3]


def test_the_installed_sam2_has_the_private_signatures_we_call():
    problems = signature_mismatches()
    assert not problems, (
        "the installed rf-sam-2 changed private methods that model/sam2_compat/private.py wraps; adapt the "
        "wrappers (and PRIVATE_METHODS) to:\n" + "\n".join(problems)
    )


def test_a_changed_signature_is_named(monkeypatch):
    """The check can fail: a sam2 whose _encode_new_memory lost a parameter is reported by name."""
    from sam2.modeling.sam2_base import SAM2Base

    monkeypatch.setattr(SAM2Base, "_encode_new_memory", lambda self, current_vision_feats, feat_sizes: None)
    (problem,) = signature_mismatches()
    assert "SAM2Base._encode_new_memory" in problem and "pred_masks_high_res" in problem


def test_a_missing_method_is_named(monkeypatch):
    from sam2.modeling.position_encoding import PositionEmbeddingSine

    monkeypatch.delattr(PositionEmbeddingSine, "_encode_xy")
    (problem,) = signature_mismatches()
    assert "PositionEmbeddingSine._encode_xy: not found" in problem


@pytest.mark.parametrize("method", PRIVATE_METHODS, ids=lambda m: m.name)
def test_each_wrapper_takes_keyword_arguments_only(method):
    wrapper = getattr(private, method.name.lstrip("_"))
    first, *rest = inspect.signature(wrapper).parameters.values()
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD  # the sam2 object
    assert [p.name for p in rest] == list(method.parameters)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)


# A private method called on anything but the object itself (self._x() is a class's own business).
_FOREIGN_PRIVATE_CALL = re.compile(r"(?<!\bself)(?<!\bsuper\(\))\._[a-z]\w*\(")


def test_only_sam2_compat_calls_private_methods_of_other_objects():
    compat = REPO / "model" / "sam2_compat"
    offenders = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in sorted((REPO / "model").rglob("*.py"))
        if compat not in path.parents
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _FOREIGN_PRIVATE_CALL.search(line.split("#")[0])
    ]
    assert not offenders, "call sam2's private methods through model/sam2_compat/private.py:\n" + "\n".join(offenders)


def test_the_service_and_the_weights_cli_never_import_sam2():
    """The arrows point service -> model -> sam2: only the model layer knows sam2."""
    imports_sam2 = re.compile(r"^\s*(from|import)\s+sam2(\.|\s|$)", re.M)
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("service", "weights")
        for path in sorted((REPO / folder).rglob("*.py"))
        if imports_sam2.search(path.read_text())
    ]
    assert not offenders
