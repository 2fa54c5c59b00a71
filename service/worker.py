"""The device worker: one thread that runs every blocking torch job, fed by a bounded queue.

The event loop never runs torch: a route ``await``s ``worker.submit(fn)``; the job waits in the queue (its wait
is measured), runs on the worker thread, and its result or exception comes back to the awaiting coroutine.
A full queue refuses at once with ``QueueFullError`` (503 + Retry-After) instead of letting latency grow.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import metrics
from .errors import QueueFullError

log = logging.getLogger(__name__)
_STOP = object()


@dataclass
class _Job:
    fn: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class DeviceWorker:
    def __init__(self, name: str, queue_size: int, retry_after_s: int = 1):
        self.name = name
        self.retry_after_s = retry_after_s
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name=f"device-worker-{name}", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, fn: Callable[[], Any]) -> tuple[Any, float]:
        """Runs ``fn()`` on the worker thread; returns (its result, seconds it waited in the queue)."""
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop, loop.create_future())
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            metrics.QUEUE_REJECTED.inc()
            raise QueueFullError(
                None, f"the device queue is full ({self._queue.maxsize} waiting); retry shortly",
                headers={"Retry-After": str(self.retry_after_s)},
            ) from None
        metrics.QUEUE_DEPTH.inc()
        return await job.future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            waited = time.perf_counter() - job.enqueued
            metrics.QUEUE_WAIT_SECONDS.observe(waited)
            try:
                outcome, ok = job.fn(), True
            except BaseException as e:  # noqa: BLE001  (handed to the caller, who maps it)
                outcome, ok = e, False
            finally:
                metrics.QUEUE_DEPTH.dec()
            job.loop.call_soon_threadsafe(_settle, job.future, outcome, ok, waited)

    def close(self, timeout: float = 30.0) -> None:
        """Lets queued jobs finish, then stops the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)


def _settle(future: asyncio.Future, outcome, ok: bool, waited: float) -> None:
    if future.cancelled():  # the client went away; nothing to deliver
        return
    if ok:
        future.set_result((outcome, waited))
    else:
        future.set_exception(outcome)
