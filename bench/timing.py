"""Interleaved timing shared by the benches: both sides of a ratio run in turn (A, B, A, B, ...), so both see the
same machine load; ratios are taken pair by pair and reported as median and spread (min - max)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from sam2refiner.model.runtime import synchronize


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, device="cpu", warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds of each call, the functions taking turns ``repeats`` times (after ``warmup`` untimed turns)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup + repeats):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.1f} ms"


def ratio(a: list[float], b: list[float]) -> str:
    """'median x (min-max)' of the pairwise ratios a[i] / b[i]."""
    r = [x / y for x, y in zip(a, b)]
    return f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})"
