"""The docs' reference tables are the code's: settings and metrics are generated from it (the committed pages must
equal the generator's output), the error codes are written by hand and checked against ``ERROR_CODES``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import sam2refiner.service.app  # noqa: F401  (imports every module that defines a ServiceError)
from sam2refiner.service.core.errors import ERROR_CODES

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_reference_tables", DOCS / "reference_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _between(text: str, marker: str) -> str:
    """The text between ``<!-- marker -->`` and ``<!-- /marker -->``."""
    found = re.search(rf"<!-- {marker} -->\n(.*?)<!-- /{marker} -->", text, re.S)
    assert found, f"no <!-- {marker} --> block"
    return found.group(1)


@pytest.mark.parametrize("page", ["settings.md", "metrics.md"])
def test_generated_tables_equal_the_code(page):
    generator = _generator()
    assert page in generator.BLOCKS
    assert (DOCS / page).read_text() == generator.rendered(page), (
        f"docs/{page} is out of date: run python docs/reference_tables.py"
    )


def test_every_setting_and_metric_has_a_row():
    generator = _generator()
    from sam2refiner.service.core.settings import Settings

    settings = set(re.findall(r"^\| `SAM2REFINER_([A-Z0-9_]+)` \|", generator.settings_table(), re.M))
    assert settings == {name.upper() for name in Settings.model_fields}
    assert "`sam2refiner_queue_depth` | gauge" in generator.metrics_table()


def test_error_code_table_lists_every_code_with_its_status():
    table = _between((DOCS / "http-api.md").read_text(), "table:error-codes")
    documented = {code: int(status) for code, status in re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", table, re.M)}
    assert documented == ERROR_CODES


def test_codes_the_video_protocol_names_are_in_the_table():
    named = set(re.findall(r"`([a-z_]+)`", _between((DOCS / "video-protocol.md").read_text(), "codes:video")))
    assert named and named <= set(ERROR_CODES), named - set(ERROR_CODES)
