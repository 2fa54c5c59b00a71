"""A worker's shutdown on SIGTERM: refuse new video work at once, finish what is in flight, then stop serving.

    drain = Drain()                                  # app.state.drain; /readyz answers 503 once drain.draining
    async with drain.work():                         # around each video message; raises DrainingError once draining
        ...
    drain.install_sigterm(timeout_s=20, delay_s=0)   # in the lifespan, under uvicorn (main thread only)

uvicorn stops listening and drops open WebSockets (close code 1012) the moment it sees SIGTERM, which would lose
the reply of a frame being tracked and leave its lease behind. So the handler installed here runs first: it
marks the worker draining (``/readyz`` 503, new video messages answered with ``draining`` so the client
reconnects to another worker), waits until the messages in flight are answered and saved (their leases
released) or ``timeout_s`` passed, and at least ``delay_s`` (time for a load balancer to see the 503), then
hands the signal to uvicorn's own handler, which shuts the server and then the lifespan down.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from contextlib import asynccontextmanager

from ..core.errors import DrainingError

log = logging.getLogger(__name__)


class Drain:
    def __init__(self):
        self.draining = False
        self._in_flight = 0
        self._idle: asyncio.Event | None = None  # made on the event loop, set when nothing is in flight
        self._task: asyncio.Task | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def check(self) -> None:
        if self.draining:
            raise DrainingError(None, "this worker is shutting down: reconnect; another worker continues the session")

    @asynccontextmanager
    async def work(self):
        """One message's work; refused once draining, waited for by the drain once started."""
        self.check()
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._idle is not None:
                self._idle.set()

    async def finish(self, timeout_s: float, delay_s: float = 0.0) -> bool:
        """Marks the worker draining; returns once nothing is in flight (True) or ``timeout_s`` passed (False),
        and not before ``delay_s``."""
        self.draining = True
        self._idle = asyncio.Event()
        if self._in_flight == 0:
            self._idle.set()
        waiting = self._in_flight
        try:
            idle = asyncio.gather(self._idle.wait(), asyncio.sleep(delay_s))
            await asyncio.wait_for(idle, max(timeout_s, delay_s))
            done = True
        except asyncio.TimeoutError:
            done = False
        log.warning(
            "draining: %d video message(s) were in flight; %s",
            waiting,
            "all answered" if done else f"{self._in_flight} still running after {timeout_s:.0f} s",
        )
        return done

    def install_sigterm(self, timeout_s: float, delay_s: float = 0.0) -> bool:
        """Puts the drain in front of the current SIGTERM handler (uvicorn's); False where signals cannot be
        handled (not the main thread: a test client, an embedding)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        loop = asyncio.get_running_loop()
        server_handler = signal.getsignal(signal.SIGTERM)

        def hand_over(sig):
            if callable(server_handler):
                server_handler(sig, None)
            else:  # no server handler: the default action, as if we had not been here
                signal.signal(sig, server_handler)
                signal.raise_signal(sig)

        async def drain_then_stop(sig):
            await self.finish(timeout_s, delay_s)
            hand_over(sig)

        def on_sigterm(sig, _frame):
            if self.draining:  # a second SIGTERM: stop now
                hand_over(sig)
                return
            log.warning("SIGTERM: draining (readiness 503, new video messages answered 'draining')")
            self.draining = True
            loop.call_soon_threadsafe(lambda: setattr(self, "_task", loop.create_task(drain_then_stop(sig))))

        signal.signal(signal.SIGTERM, on_sigterm)
        return True
