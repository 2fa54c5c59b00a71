"""The device worker: the threads that run every blocking torch job, fed by bounded queues, one per lane.

The event loop never runs torch: a route ``await``s ``worker.submit(fn)``; the job waits in its lane (its wait is
measured), runs on a worker thread, and its result or exception comes back to the awaiting coroutine. A full
lane refuses at once with ``QueueFullError`` (503 + Retry-After) instead of letting latency grow.

Lanes, in the order the worker takes from them:
    INTERACTIVE  (the default) a user waits on it: clicks, new images
    STREAM       video frames: on one thread, each runs when no interactive job waits, so a click queued behind
                 streaming sessions waits for the one stream job that is running, not for all the frames queued
                 before it; with ``stream_thread=True`` beside the clicks' thread, so a click waits for none
    BACKGROUND   (``background=True``: a new image's quadrant encoder passes) runs only when no other job waits;
                 unbounded (its jobs are bounded by the images that made them) and dropped when the worker stops

With ``stream_thread=True`` (the service's default) video frames have a thread of their own: one thread takes
INTERACTIVE then BACKGROUND jobs (every image job, so an image's state stays on one thread), the other STREAM jobs,
and a click runs beside a running frame instead of after it. Each thread's jobs run in ``job_context(lanes)``
(the runtime's: on a GPU, the thread's own CUDA stream, clicks' at high priority). Without it, one thread takes
the three lanes in the order above.

Jobs submitted with ``submit_batched(key, payload, batch_fn)`` that are waiting in one lane with the same ``key``
run as one call ``batch_fn([payload, ...])`` (at most ``max_batch`` payloads): under load, clicks on one image
share a decoder pass, frames of different sessions an encoder pass. Nothing ever waits for a batch to fill: a
batch is whatever is already queued when the worker gets to it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from . import metrics
from .errors import QueueFullError

log = logging.getLogger(__name__)

INTERACTIVE, STREAM, BACKGROUND = "interactive", "stream", "background"
LANES = (INTERACTIVE, STREAM, BACKGROUND)  # the order the worker takes jobs in


@dataclass
class _Job:
    batch_fn: Callable[[list], list]  # payloads -> one outcome per payload
    payload: Any
    batch_key: Hashable | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    max_batch: int | None = None
    enqueued: float = field(default_factory=time.perf_counter)


class DeviceWorker:
    def __init__(
        self,
        name: str,
        queue_size: int,
        retry_after_s: int = 1,
        max_batch: int = 16,
        stream_thread: bool = False,
        job_context: Callable[[tuple[str, ...]], AbstractContextManager] | None = None,
    ):
        self.name = name
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self.max_batch = max_batch
        self._job_context = job_context or (lambda _lanes: nullcontext())
        self._ready = threading.Condition()
        self._lanes: dict[str, deque[_Job]] = {lane: deque() for lane in LANES}
        self._stopping = False
        self._closed: set[str] = set()  # lanes whose thread has left: nothing submitted to them would ever run
        groups = [(INTERACTIVE, BACKGROUND), (STREAM,)] if stream_thread else [LANES]
        self._threads = [
            threading.Thread(target=self._run, args=(lanes,), name=f"device-worker-{name}-{lanes[0]}", daemon=True)
            for lanes in groups
        ]
        for thread in self._threads:
            thread.start()

    @property
    def depth(self) -> int:
        with self._ready:
            return sum(len(jobs) for jobs in self._lanes.values())

    async def submit(
        self, fn: Callable[[], Any], background: bool = False, lane: str = INTERACTIVE
    ) -> tuple[Any, float]:
        """Runs ``fn()`` on the lane's worker thread; returns (its result, seconds it waited in the queue). A background
        job (``background=True``, the same as ``lane=BACKGROUND``) runs only when no other job waits."""
        result, waited, _ = await self._submit(lambda _payloads: [fn()], None, None, BACKGROUND if background else lane)
        return result, waited

    async def submit_batched(
        self,
        key: Hashable,
        payload: Any,
        batch_fn: Callable[[list], list],
        lane: str = INTERACTIVE,
        max_batch: int | None = None,
    ) -> tuple[Any, float, int]:
        """Runs ``batch_fn`` on this payload and on any queued in the lane with the same key (at most ``max_batch``,
        the worker's ``max_batch`` by default); returns (this payload's outcome, seconds waited, how many payloads
        shared the call)."""
        return await self._submit(batch_fn, payload, key, lane, max_batch)

    async def _submit(self, batch_fn, payload, key, lane: str, max_batch: int | None = None):
        if lane not in LANES:
            raise ValueError(f"lane: one of {LANES}, not {lane!r}")
        loop = asyncio.get_running_loop()
        job = _Job(batch_fn, payload, key, loop, loop.create_future(), max_batch)
        with self._ready:
            jobs = self._lanes[lane]
            if lane in self._closed:  # e.g. a video frame's second job, after shutdown let its first one finish
                raise QueueFullError(
                    None,
                    "the device worker has stopped (this worker is shutting down); retry shortly",
                    headers={"Retry-After": str(self.retry_after_s)},
                )
            if lane != BACKGROUND and len(jobs) >= self.queue_size:
                metrics.QUEUE_REJECTED.inc()
                raise QueueFullError(
                    None,
                    f"the device queue is full ({self.queue_size} waiting); retry shortly",
                    headers={"Retry-After": str(self.retry_after_s)},
                )
            jobs.append(job)
            self._ready.notify_all()  # the threads wait for different lanes
        metrics.QUEUE_DEPTH.inc()
        return await job.future

    # ------------------------------------------------------------------ worker threads
    def _next_batch(self, lanes: tuple[str, ...]) -> list[_Job] | None:
        """The next batch to run, from the first of ``lanes`` with a job; None once stopping and nothing but
        background jobs is left in them (those are cancelled)."""
        with self._ready:
            while True:
                for lane in lanes:
                    if self._lanes[lane] and not (self._stopping and lane == BACKGROUND):
                        return self._gather_batch(self._lanes[lane])
                if self._stopping:
                    if BACKGROUND in lanes:
                        dropped, self._lanes[BACKGROUND] = self._lanes[BACKGROUND], deque()
                        for job in dropped:  # nothing will run them now
                            job.loop.call_soon_threadsafe(job.future.cancel)
                        metrics.QUEUE_DEPTH.dec(len(dropped))
                    self._closed.update(lanes)
                    return None
                self._ready.wait()

    def _gather_batch(self, jobs: deque[_Job]) -> list[_Job]:
        """The lane's first job and the jobs queued after it with the same key (the others keep their order)."""
        first = jobs.popleft()
        batch = [first]
        if first.batch_key is None:
            return batch
        limit = min(self.max_batch, first.max_batch or self.max_batch)
        keep: deque[_Job] = deque()
        while jobs:
            job = jobs.popleft()
            (batch if len(batch) < limit and job.batch_key == first.batch_key else keep).append(job)
        jobs.extend(keep)
        return batch

    def _run(self, lanes: tuple[str, ...]) -> None:
        while True:
            batch = self._next_batch(lanes)
            if batch is None:
                return
            started = time.perf_counter()
            for job in batch:
                metrics.QUEUE_WAIT_SECONDS.observe(started - job.enqueued)
            metrics.BATCH_SIZE.observe(len(batch))
            try:
                with self._job_context(lanes):
                    results = self._execute(batch)
            finally:
                metrics.QUEUE_DEPTH.dec(len(batch))
            for job, (outcome, ok) in zip(batch, results):
                job.loop.call_soon_threadsafe(_settle, job.future, outcome, ok, started - job.enqueued, len(batch))

    @staticmethod
    def _execute(batch: list[_Job]) -> list[tuple[Any, bool]]:
        try:
            outcomes = batch[0].batch_fn([job.payload for job in batch])
            return [(o, True) for o in outcomes]
        except BaseException as e:  # noqa: BLE001  (handed to the caller, who maps it)
            if len(batch) == 1:
                return [(e, False)]
        # One bad payload must not fail the others: run each alone.
        return [DeviceWorker._execute([job])[0] for job in batch]

    def close(self, timeout: float = 30.0) -> None:
        """Lets queued jobs finish (background ones are dropped), then stops the threads."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _settle(future: asyncio.Future, outcome, ok: bool, waited: float, batch_size: int) -> None:
    if future.cancelled():  # the client went away; nothing to deliver
        return
    if ok:
        future.set_result((outcome, waited, batch_size))
    else:
        future.set_exception(outcome)
