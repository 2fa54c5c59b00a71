"""The device worker on its own: results and errors come back, waiting jobs with one key form one batch, a bad
payload fails alone, a full queue refuses. The scenarios wait on what the worker does (a job has started, the
queue holds N), never for a time, so they hold however late its thread is scheduled."""

import asyncio
import contextlib
import threading

import pytest

from sam2refiner.service.core.errors import QueueFullError
from sam2refiner.service.core.worker import STREAM, DeviceWorker
from tests.waiting import eventually


def _run(coro):
    return asyncio.run(coro)


class Blocker:
    """A job that signals when the worker thread has started it and then holds the worker until released."""

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self):
        self.started.set()
        return self.release.wait(60)

    async def running(self) -> None:
        assert await asyncio.to_thread(self.started.wait, 60), "the worker never started the job"


def test_results_errors_and_queue_wait():
    async def main():
        worker = DeviceWorker("test", queue_size=4)
        try:
            value, waited = await worker.submit(lambda: 41 + 1)
            assert value == 42 and waited >= 0
            with pytest.raises(ZeroDivisionError):
                await worker.submit(lambda: 1 / 0)
        finally:
            worker.close()

    _run(main())


def test_queued_jobs_with_one_key_share_a_call_and_a_bad_payload_fails_alone():
    calls = []

    def batch_fn(payloads):
        calls.append(list(payloads))
        if any(p < 0 for p in payloads):
            raise ValueError("negative")
        return [p * 10 for p in payloads]

    async def main():
        worker = DeviceWorker("test", queue_size=8)
        job = Blocker()
        try:
            blocker = asyncio.ensure_future(worker.submit(job))
            await job.running()  # what follows waits in the queue
            jobs = [asyncio.ensure_future(worker.submit_batched("k", p, batch_fn)) for p in (1, 2, -3)]
            other = asyncio.ensure_future(worker.submit_batched("other", 5, batch_fn))
            await eventually(lambda: worker.depth == 4, what="the four jobs to be queued")
            job.release.set()
            await blocker
            done = await asyncio.gather(*jobs, other, return_exceptions=True)
        finally:
            job.release.set()
            worker.close()
        return done

    (one, two, bad, other) = _run(main())
    assert one[0] == 10 and two[0] == 20 and one[2] == 3  # (outcome, waited, batch size)
    assert isinstance(bad, ValueError)
    assert other[0] == 50 and other[2] == 1
    assert calls[0] == [1, 2, -3]  # tried together first, then one by one
    assert [1] in calls and [2] in calls and [-3] in calls


def test_full_queue_refuses_with_retry_after():
    async def main():
        worker = DeviceWorker("test", queue_size=1, retry_after_s=7)
        job = Blocker()
        try:
            running = asyncio.ensure_future(worker.submit(job))
            await job.running()  # off the queue, on the worker
            queued = asyncio.ensure_future(worker.submit(lambda: 1))
            await eventually(lambda: worker.depth == 1, what="the second job to be queued")
            with pytest.raises(QueueFullError) as e:
                await worker.submit(lambda: 2)
            assert e.value.headers == {"Retry-After": "7"}
            job.release.set()
            assert (await queued)[0] == 1
            await running
        finally:
            job.release.set()
            worker.close()

    _run(main())


def test_interactive_jobs_run_before_queued_stream_jobs_and_stream_jobs_batch_by_key():
    """A click queued behind streaming sessions' frames runs next (after the job that is running); frames of
    different sessions waiting together share one call, at most ``max_batch`` of them."""
    ran, calls = [], []

    def encode(payloads):
        calls.append(list(payloads))
        ran.extend(payloads)
        return payloads

    async def main():
        worker = DeviceWorker("test", queue_size=8)
        job = Blocker()
        try:
            blocker = asyncio.ensure_future(worker.submit(job, lane=STREAM))
            await job.running()
            frames = [
                asyncio.ensure_future(worker.submit_batched("enc", f, encode, lane=STREAM, max_batch=2))
                for f in ("f1", "f2", "f3")
            ]
            step = asyncio.ensure_future(worker.submit(lambda: ran.append("step"), lane=STREAM))
            background = asyncio.ensure_future(worker.submit(lambda: ran.append("quadrants"), background=True))
            click = asyncio.ensure_future(worker.submit(lambda: ran.append("click")))
            await eventually(lambda: worker.depth == 6, what="the six jobs to be queued")
            job.release.set()
            await asyncio.gather(blocker, *frames, step, background, click)
            return [await f for f in frames]
        finally:
            job.release.set()
            worker.close()

    outcomes = _run(main())
    assert ran == ["click", "f1", "f2", "f3", "step", "quadrants"]
    assert calls == [["f1", "f2"], ["f3"]]
    assert [o[2] for o in outcomes] == [2, 2, 1]  # batch sizes


def test_full_stream_lane_refuses_while_clicks_still_queue():
    async def main():
        worker = DeviceWorker("test", queue_size=1)
        job = Blocker()
        try:
            running = asyncio.ensure_future(worker.submit(job))
            await job.running()
            queued = asyncio.ensure_future(worker.submit(lambda: "frame", lane=STREAM))
            await eventually(lambda: worker.depth == 1, what="the frame to be queued")
            with pytest.raises(QueueFullError):
                await worker.submit(lambda: "another frame", lane=STREAM)
            click = asyncio.ensure_future(worker.submit(lambda: "click"))  # its own lane has room
            job.release.set()
            assert (await click)[0] == "click" and (await queued)[0] == "frame"
            await running
        finally:
            job.release.set()
            worker.close()

    _run(main())


def test_a_job_submitted_after_the_worker_stopped_is_refused_not_left_waiting():
    async def main():
        worker = DeviceWorker("test", queue_size=4)
        assert (await worker.submit(lambda: 1))[0] == 1
        worker.close()
        with pytest.raises(QueueFullError, match="stopped"):
            await worker.submit(lambda: 2, lane=STREAM)
        assert worker.depth == 0

    _run(main())


def test_with_a_stream_thread_a_click_runs_while_a_frame_runs_each_thread_in_its_job_context():
    entered = []

    def job_context(lanes):
        entered.append(lanes)
        return contextlib.nullcontext()

    async def main():
        worker = DeviceWorker("test", queue_size=4, stream_thread=True, job_context=job_context)
        frame = Blocker()
        try:
            running = asyncio.ensure_future(worker.submit(frame, lane=STREAM))
            await frame.running()
            assert await worker.submit(lambda: "click") == ("click", pytest.approx(0, abs=60))
            assert not running.done()  # the click came back while the frame still held its thread
            frame.release.set()
            assert (await running)[0] is True
        finally:
            frame.release.set()
            worker.close()
        assert sorted(entered) == [("interactive", "background"), ("stream",)]
        for lane in (STREAM, "interactive"):  # both threads have left: neither lane takes a job
            with pytest.raises(QueueFullError):
                await worker.submit(lambda: None, lane=lane)

    _run(main())
