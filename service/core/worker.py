"""The device worker: one thread that runs every blocking torch job, fed by a bounded queue.

The event loop never runs torch: a route ``await``s ``worker.submit(fn)``; the job waits in the queue (its wait
is measured), runs on the worker thread, and its result or exception comes back to the awaiting coroutine.
A full queue refuses at once with ``QueueFullError`` (503 + Retry-After) instead of letting latency grow.

Jobs submitted with ``submit_batched(key, payload, batch_fn)`` that are waiting together with the same ``key``
run as one call ``batch_fn([payload, ...])``: under load, clicks on one image share a decoder pass. Nothing
ever waits for a batch to fill: a batch is whatever is already queued when the worker gets to it.

Jobs submitted with ``background=True`` (a new image's quadrant encoder passes) run only when no other job is
waiting: a click queued behind a new image waits for the encoder pass that is running, not for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from . import metrics
from .errors import QueueFullError

log = logging.getLogger(__name__)
_STOP = object()
_WAKE = object()  # tells a worker blocked on the queue that a background job arrived


@dataclass
class _Job:
    batch_fn: Callable[[list], list]  # payloads -> one outcome per payload
    payload: Any
    batch_key: Hashable | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class DeviceWorker:
    def __init__(self, name: str, queue_size: int, retry_after_s: int = 1, max_batch: int = 16):
        self.name = name
        self.retry_after_s = retry_after_s
        self.max_batch = max_batch
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._deferred: deque = deque()  # taken off the queue while forming a batch they did not fit
        self._background: deque = deque()  # run when nothing else waits
        self._thread = threading.Thread(target=self._run, name=f"device-worker-{name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize() + len(self._deferred) + len(self._background)

    async def submit(self, fn: Callable[[], Any], background: bool = False) -> tuple[Any, float]:
        """Runs ``fn()`` on the worker thread; returns (its result, seconds it waited in the queue). A background
        job runs only when no other job waits."""
        if background:
            loop = asyncio.get_running_loop()
            job = _Job(lambda _payloads: [fn()], None, None, loop, loop.create_future())
            self._background.append(job)
            metrics.QUEUE_DEPTH.inc()
            try:
                self._queue.put_nowait(_WAKE)
            except queue.Full:  # the worker has queued jobs to run and will look here after them
                pass
            result, waited, _ = await job.future
            return result, waited
        result, waited, _ = await self._submit(lambda _payloads: [fn()], None, None)
        return result, waited

    async def submit_batched(
        self, key: Hashable, payload: Any, batch_fn: Callable[[list], list]
    ) -> tuple[Any, float, int]:
        """Runs ``batch_fn`` on this payload and on any queued with the same key; returns (this payload's
        outcome, seconds waited, how many payloads shared the call)."""
        return await self._submit(batch_fn, payload, key)

    async def _submit(self, batch_fn, payload, key):
        loop = asyncio.get_running_loop()
        job = _Job(batch_fn, payload, key, loop, loop.create_future())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            metrics.QUEUE_REJECTED.inc()
            raise QueueFullError(
                None,
                f"the device queue is full ({self._queue.maxsize} waiting); retry shortly",
                headers={"Retry-After": str(self.retry_after_s)},
            ) from None
        metrics.QUEUE_DEPTH.inc()
        return await job.future

    # ------------------------------------------------------------------ worker thread
    def _next(self):
        while True:
            if self._deferred:
                job = self._deferred.popleft()
            else:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    job = self._background.popleft() if self._background else self._queue.get()
            if job is not _WAKE:
                return job

    def _gather_batch(self, first: _Job) -> list[_Job]:
        batch = [first]
        if first.batch_key is None:
            return batch
        keep = deque()
        while self._deferred and len(batch) < self.max_batch:
            job = self._deferred.popleft()
            (batch if job is not _STOP and job is not _WAKE and job.batch_key == first.batch_key else keep).append(job)
        keep.extend(self._deferred)
        self._deferred = keep
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _WAKE:
                continue
            if job is not _STOP and job.batch_key == first.batch_key:
                batch.append(job)
            else:
                self._deferred.append(job)
        return batch

    def _run(self) -> None:
        while True:
            first = self._next()
            if first is _STOP:
                while self._background:  # nothing will run them now
                    job = self._background.popleft()
                    job.loop.call_soon_threadsafe(job.future.cancel)
                return
            batch = self._gather_batch(first)
            started = time.perf_counter()
            for job in batch:
                metrics.QUEUE_WAIT_SECONDS.observe(started - job.enqueued)
            metrics.BATCH_SIZE.observe(len(batch))
            try:
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
        """Lets queued jobs finish, then stops the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)


def _settle(future: asyncio.Future, outcome, ok: bool, waited: float, batch_size: int) -> None:
    if future.cancelled():  # the client went away; nothing to deliver
        return
    if ok:
        future.set_result((outcome, waited, batch_size))
    else:
        future.set_exception(outcome)
