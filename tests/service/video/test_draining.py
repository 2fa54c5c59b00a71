"""The drain on its own (the SIGTERM path with real uvicorn processes is in test_video_faults.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sam2refiner.service.core.errors import DrainingError
from sam2refiner.service.video.draining import Drain
from tests.waiting import eventually


def test_work_in_flight_finishes_and_new_work_is_refused():
    async def scenario():
        drain, events = Drain(), []
        started, release = asyncio.Event(), asyncio.Event()

        async def frame():
            async with drain.work():
                started.set()
                await release.wait()
                events.append("frame saved")

        in_flight = asyncio.create_task(frame())
        await started.wait()
        finished = asyncio.create_task(drain.finish(timeout_s=60))
        await eventually(lambda: drain.draining, what="the drain to begin")
        assert drain.in_flight == 1 and not finished.done()
        with pytest.raises(DrainingError):
            async with drain.work():
                events.append("new work ran")
        release.set()
        assert await finished is True
        events.append("drained")
        await in_flight
        return events

    assert asyncio.run(scenario()) == ["frame saved", "drained"]


def test_a_stuck_message_does_not_hold_the_shutdown_past_the_timeout():
    async def scenario():
        drain = Drain()
        entered, release = asyncio.Event(), asyncio.Event()

        async def stuck():
            async with drain.work():
                entered.set()
                await release.wait()

        task = asyncio.create_task(stuck())
        await entered.wait()
        done = await drain.finish(timeout_s=0.1)
        release.set()
        await task
        return done, drain.in_flight

    assert asyncio.run(scenario()) == (False, 0)


def test_no_signal_handler_outside_the_main_thread():
    async def scenario():
        return Drain().install_sigterm(1.0)

    result = []
    t = threading.Thread(target=lambda: result.append(asyncio.run(scenario())))
    t.start()
    t.join()
    assert result == [False]
