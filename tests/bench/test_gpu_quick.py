"""bench/gpu.py, the one prepared GPU run, kept from rotting: its --quick run (every code path, CPU-sized) in CI."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"

pytestmark = pytest.mark.slow  # builds the model five times and runs images, video and sessions (about a minute)


def test_quick_run_checks_correctness_and_writes_every_figure(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    gpu = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_gpu", gpu)  # its dataclasses look their module up there
    spec.loader.exec_module(gpu)
    out = tmp_path / "quick.json"
    assert gpu.main(["--quick", "--out", str(out)]) == 0  # every correctness check passed
    report = json.loads(out.read_text())
    correctness = report["correctness"]
    assert correctness["refiner_off_vs_SAM2ImagePredictor_max_abs"] <= 1e-4  # CPU fp32 on both sides
    assert correctness["fill_holes_equal_cpu"] is True
    figures = report["image"]["hiera_t"]
    assert set(figures) == {"first_mask", "cached_click", "cached_refined_click", "streamed_refined_answer"}
    assert all(f["median_ms"] > 0 and f["p90_ms"] >= f["median_ms"] for f in figures.values())
    assert figures["streamed_refined_answer"]["median_ms"] > figures["first_mask"]["median_ms"]
    assert set(report["video"]) == {f"eager {n} obj {m}" for n in (2,) for m in ("off", "PR+MR", "all")}
    assert all(v["fps"] > 0 for v in report["video"].values())
    assert set(report["sessions"]) == {"1 sessions", "2 sessions"}
    assert all(s["total_fps"] > 0 for s in report["sessions"].values())
