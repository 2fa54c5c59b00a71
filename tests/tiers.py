"""The test tiers: pytest markers (declared in pyproject.toml), most of them taken from the fixtures a test uses.

    slow      over about a second of CPU each: models built, new images encoded, whole-model runs against
              sam2, training and evaluation runs, fresh interpreters
    service   starts the service (uvicorn) as processes on ports
    browser   drives Debian's chromium
    redis     needs the ``redis-server`` program (the session starts its own on a free port)
    labelstudio  starts a real Label Studio (its own virtualenv, ``.venv-labelstudio``; .ci/run installs it)

The fast tier is ``pytest -m "not slow and not service and not browser"``; add ``and not redis`` where
redis-server is not installed. Plain ``pytest`` runs everything.

A fixture that starts such a thing says so with ``@tier(...)`` under its ``@pytest.fixture``; every test that
uses it, directly or through other fixtures, is marked (tests/conftest.py). A test that starts a process its
markers do not announce fails (tests/service/processes.py records what it starts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

TIERS = ("slow", "service", "browser", "redis", "labelstudio")


def tier(*marks: str) -> Callable:
    """Marks every test that uses the decorated fixture function with ``marks``."""
    unknown = set(marks) - set(TIERS)
    assert not unknown, f"unknown tier(s) {unknown}; the tiers are {TIERS}"

    def declare(fixture_function: Callable) -> Callable:
        fixture_function.tiers = marks
        return fixture_function

    return declare


def marks_of_fixtures(item: pytest.Item) -> Iterator[str]:
    """The tiers declared by the fixtures ``item`` uses (the definition it gets of each name)."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's own resolution of a test function's fixture closure
    if info is None:  # not a test function (a doctest, a plugin's item): no fixtures of ours
        return
    definitions = info.name2fixturedefs
    for name in item.fixturenames:
        if definitions.get(name):
            yield from getattr(definitions[name][-1].func, "tiers", ())


def undeclared(item: pytest.Item, started: list[str]) -> list[str]:
    """The kinds of process in ``started`` that ``item``'s markers do not announce."""
    return sorted(set(started) - {m.name for m in item.iter_markers()})
