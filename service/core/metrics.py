"""Every Prometheus metric of the service, defined once (prefix ``sam2refiner_``).

With several uvicorn workers set PROMETHEUS_MULTIPROC_DIR (``python -m sam2refiner.service`` does it for you) before this
module is imported: prometheus-client then writes each process's values to that folder and ``/metrics``
aggregates them. Gauges say how they aggregate (``multiprocess_mode``).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

PREFIX = "sam2refiner"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUESTS = Counter(
    f"{PREFIX}_requests_total", "HTTP requests by route, method and status code", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    f"{PREFIX}_request_duration_seconds", "HTTP request latency by route", ["route", "method"], buckets=_LATENCY_BUCKETS
)
STAGE_SECONDS = Histogram(
    f"{PREFIX}_stage_duration_seconds",
    "Time per pipeline stage (decode, encode, decoder, refine, encode_output) by route",
    ["route", "stage"],
    buckets=_LATENCY_BUCKETS,
)
CACHE_HITS = Counter(f"{PREFIX}_cache_hits_total", "Cache lookups that found the entry", ["cache"])
CACHE_MISSES = Counter(f"{PREFIX}_cache_misses_total", "Cache lookups that did not find the entry", ["cache"])
CACHE_EVICTIONS = Counter(f"{PREFIX}_cache_evictions_total", "Entries evicted to stay within the byte bound", ["cache"])
CACHE_BYTES = Gauge(f"{PREFIX}_cache_bytes", "Bytes held by each cache", ["cache"], multiprocess_mode="livesum")
CACHE_ENTRIES = Gauge(f"{PREFIX}_cache_entries", "Entries held by each cache", ["cache"], multiprocess_mode="livesum")
QUEUE_DEPTH = Gauge(
    f"{PREFIX}_queue_depth", "Jobs waiting for or running on the device worker", multiprocess_mode="livesum"
)
QUEUE_WAIT_SECONDS = Histogram(
    f"{PREFIX}_queue_wait_seconds", "Time a job waited for the device worker", buckets=_LATENCY_BUCKETS
)
BATCH_SIZE = Histogram(
    f"{PREFIX}_batch_size",
    "Requests sharing one device call (clicks on one image are batched)",
    buckets=(1, 2, 4, 8, 16, 32),
)
QUEUE_REJECTED = Counter(f"{PREFIX}_queue_rejected_total", "Jobs refused with 503 because the queue was full")
VIDEO_STAGE_SECONDS = Histogram(
    f"{PREFIX}_video_stage_duration_seconds",
    "Per-frame video time by stage (state_load, encode, memory_attention, decode, refine, memory_encode, state_save)",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
VIDEO_FRAMES = Counter(f"{PREFIX}_video_frames_total", "Video frames tracked")
VIDEO_FILE_FRAMES = Counter(f"{PREFIX}_video_file_frames_propagated_total", "Frames propagated in video file sessions")
VIDEO_ACTIVE_SESSIONS = Gauge(
    f"{PREFIX}_video_active_sessions", "Open video WebSocket connections", multiprocess_mode="livesum"
)
VIDEO_STATE_BYTES = Gauge(
    f"{PREFIX}_video_state_bytes",
    "Bytes of tracker state held for the sessions this process served",
    multiprocess_mode="livesum",
)
VIDEO_STORE_ERRORS = Counter(f"{PREFIX}_video_state_store_errors_total", "Video state store failures by kind", ["kind"])
MODEL_INFO = Gauge(
    f"{PREFIX}_model_info",
    "The loaded model (value 1); random_weights=true means no checkpoint was given",
    ["config", "image_size", "device", "dtype", "modules", "random_weights"],
    multiprocess_mode="max",
)
MODEL_READY = Gauge(f"{PREFIX}_model_ready", "1 once the model is loaded and warmed up", multiprocess_mode="livemin")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render_latest() -> tuple[bytes, str]:
    """The exposition text: this process's registry, or every worker's when in multiprocess mode."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead() -> None:
    """Drops this worker's live gauges from the multiprocess folder when it exits."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())
