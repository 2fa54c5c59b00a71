"""A plain web server on a free loopback port, in a thread of the test process: it stands in for the hosts the
service fetches from (image hosts of Label Studio tasks, video files by URL).

    with serving(handler_class) as base_url:   # "http://127.0.0.1:PORT"
        ...
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serving(handler_class) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
