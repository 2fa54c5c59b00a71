"""A local HTTP server standing in for the Hugging Face Hub's file endpoint (``HF_ENDPOINT``), for tests.

    with HubStandIn({("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt"): data}) as hub:
        fetch_official_checkpoint("hiera_t", endpoint=hub.url)

It answers ``HEAD`` and ``GET /{repo}/resolve/{revision}/{file}`` the way the Hub does for an LFS file: the
commit in ``X-Repo-Commit``, the file's sha256 as ``X-Linked-Etag``, its size in ``X-Linked-Size``; ``Range``
requests get a 206. ``claimed_sizes`` makes it announce another size than it sends (a corrupted transfer).
``SilentServer`` accepts connections and never answers (a firewall that drops the traffic).
"""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    def __init__(self, files: dict[tuple[str, str], bytes], claimed_sizes: dict[tuple[str, str], int] | None = None):
        self.files, self.claimed_sizes = files, claimed_sizes or {}
        self.requests: list[tuple[str, str]] = []  # (method, path) in arrival order
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _file(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None, None
                key = ("/".join(parts[:2]), "/".join(parts[4:]))
                return key, hub.files.get(key)

            def _answer(self, with_body: bool):
                hub.requests.append((self.command, self.path))
                key, data = self._file()
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = int(self.headers.get("Range", "bytes=0-").removeprefix("bytes=").split("-")[0] or 0)
                body = data[start:]
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(hub.claimed_sizes.get(key, len(data))))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_HEAD(self):
                self._answer(with_body=False)

            def do_GET(self):
                self._answer(with_body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def gets(self) -> int:
        return sum(1 for method, _ in self.requests if method == "GET")

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class SilentServer:
    """Listens (so connecting succeeds) and never reads or answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()
