"""The service in this process for the benches that measure it over real HTTP or WebSockets: uvicorn on a free
loopback port, in a background thread, ready (/readyz 200) once constructed."""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from bench.first_run import free_port
from sam2refiner.service.app import create_app
from sam2refiner.service.core.settings import Settings


class Server:
    """uvicorn serving the app in a background thread of this process; ``app`` is the app (its state for the benches
    that also call the engine directly), ``url`` its address."""

    def __init__(self, settings: Settings):
        self.app = create_app(settings)
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.port}"
        while not self.server.started or httpx.get(f"{self.url}/readyz").status_code != 200:
            if not self.thread.is_alive():  # failed to start: its error is in the log above
                raise RuntimeError(f"the service on port {self.port} did not start")
            time.sleep(0.1)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(60)
