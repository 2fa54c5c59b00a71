"""The README's table of error codes is the code's (issue 9: one error body everywhere, its codes documented)."""

from __future__ import annotations

import re
from pathlib import Path

import sam2refiner.service.app  # noqa: F401  (imports every module that defines a ServiceError)
from sam2refiner.service.errors import ERROR_CODES

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_table() -> dict[str, int]:
    text = README.read_text()
    section = text.split("### Errors", 1)[1].split("\n### ", 1)[0]
    return {code: int(status) for code, status in re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", section, re.M)}


def test_readme_lists_every_error_code_with_its_status():
    assert _readme_table() == ERROR_CODES


def test_websocket_codes_named_in_the_protocol_are_in_the_table():
    protocol = README.read_text().split("### Protocol", 1)[1].split("\n### ", 1)[0]
    named = set(
        re.findall(r"`([a-z]+_[a-z_]+|internal)`", protocol.split("The codes are", 1)[1].split("Timings", 1)[0])
    )
    assert named and named <= set(ERROR_CODES), named - set(ERROR_CODES)
