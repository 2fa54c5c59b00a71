"""Waiting in tests: on an observable state with a deadline, never for a fixed time.

    wait_until(lambda: not leases(), what="the lease to be released")           # a thread, a process, Redis
    await eventually(lambda: worker.depth == 4, what="the jobs to be queued")    # on an event loop

Both poll ``predicate`` until it returns something true (which they return) and fail with ``what`` once
``timeout_s`` has passed. The pause between polls is only how often to look: a test that passes with it passes
with any other value. These are the only places in tests/ that sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.02


def wait_until(predicate: Callable[[], T], timeout_s: float = 30.0, what: str = "the condition") -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s} s for {what}")
        time.sleep(POLL_S)


async def eventually(predicate: Callable[[], T], timeout_s: float = 30.0, what: str = "the condition") -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s} s for {what}")
        await asyncio.sleep(POLL_S)
