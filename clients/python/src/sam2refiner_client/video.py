"""A synchronous client of the video WebSocket ``/video/{session}``.

    from sam2refiner_client import VideoSession

    with VideoSession("ws://127.0.0.1:8000", "cam-1") as video:     # refine: the server's default
        for i, jpeg in enumerate(jpeg_frames):
            reply = video.frame(jpeg)                      # {"frame_idx", "objects": [...], "timings": {...}}
            if i == 0:
                reply = video.prompt([{"obj_id": 1, "points": [[320, 240]], "labels": [1]}])
            masks = video.masks(reply)                     # {obj_id: bool [H, W]}, in any of the formats
        video.close()                                      # deletes the session; leaving without it keeps it (TTL)

The client numbers every message that changes the session (``seq``) and resumes by itself: when the socket
drops or the worker answers ``draining`` (it is shutting down), it reconnects (to the next of several URLs, if
given: workers that share a Redis) and sends the message again, which the server answers from what it stored
if it had applied it already. ``session_busy``, ``stale_state`` and ``state_store_unavailable`` are retried
with backoff too, all within ``retry_s``. Another client sending to the same session under the same numbers
raises ``SeqConflictError``: the server refused this client's message (``seq_conflict``), or answered its first
send as a duplicate (the other client had sent the very same message).
"""

from __future__ import annotations

import io
import json
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from .errors import SeqConflictError, SessionLostError, error_from_body
from .masks import decode_mask

RETRIED = ("session_busy", "stale_state", "state_store_unavailable")  # the server says: retry the same message
RECONNECT = ("draining",)  # the server says: reconnect, another worker continues
SIZES_KEPT = 4096  # the sizes of the last frames sent, for the polygons of their replies


class VideoSession:
    def __init__(
        self,
        url: str | Sequence[str],
        session: str,
        refine: bool | dict | None = None,
        api_key: str | None = None,
        timeout: float = 300,
        retry_s: float = 60,
        format: str = "rle",
    ):
        self.urls = [url] if isinstance(url, str) else list(url)
        self.session = session
        self.timeout, self.retry_s = timeout, retry_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._start = {"type": "start", "format": format} | ({} if refine is None else {"refine": refine})
        self._url_index = 0
        self._ws = None
        self._connected = False
        self._acked = 0  # the highest seq the server has answered
        # frame_idx -> (H, W) of the frames this client sent and the server took: the masks' size, for formats
        # that do not carry it
        self._frame_sizes: OrderedDict[int, tuple[int, int]] = OrderedDict()
        self.reconnects = 0  # times the client reconnected by itself
        self.retries = 0  # messages sent again after a "retry" error (busy, stale, store unavailable)
        self.started = self._until_done(None)
        self.format = self.started.get("format", format)
        self._seq = self._acked = self.started.get("last_seq") or 0

    # ------------------------------------------------------------------ the protocol
    def frame(self, encoded: bytes) -> dict:
        """Sends one JPEG/PNG/WebP frame; returns every tracked object's mask on it."""
        seq = self._next_seq()
        reply = self._until_done(lambda: self._exchange([json.dumps({"type": "frame", "seq": seq}), encoded]))
        try:
            with Image.open(io.BytesIO(encoded)) as image:  # reads the header only
                self._frame_sizes[reply["frame_idx"]] = (image.height, image.width)
        except OSError:  # a format the server reads and PIL does not: polygons then need ``size``
            pass
        while len(self._frame_sizes) > SIZES_KEPT:
            self._frame_sizes.popitem(last=False)
        return reply

    def prompt(self, objects: list[dict], frame_idx: int | None = None) -> dict:
        """Prompts on the current frame: [{"obj_id", "points", "labels", "box", "mask"}]."""
        message = {"type": "prompt", "objects": objects}
        if frame_idx is not None:
            message["frame_idx"] = frame_idx
        return self._ask(message)

    def remove(self, obj_id: int) -> dict:
        return self._ask({"type": "remove", "obj_id": obj_id})

    def reset(self) -> dict:
        return self._ask({"type": "reset"})

    def close(self) -> dict:
        reply = self._until_done(lambda: self._exchange([json.dumps({"type": "close"})]))
        self._disconnect()
        return reply

    def masks(self, reply: dict, size: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
        """A ``frame`` or ``masks`` reply's masks, {obj_id: bool [H, W]}, decoded from the session's format.
        Polygons do not carry the frame's size: it is that of the reply's frame (``frame_idx``) as this client
        sent it (one of its last ``SIZES_KEPT``), or given as ``size`` (H, W)."""
        height, width = size or self._frame_size(reply)
        return {o["obj_id"]: decode_mask(o["mask"], self.format, height, width) for o in reply["objects"]}

    def _frame_size(self, reply: dict) -> tuple[int | None, int | None]:
        if "height" in reply and "width" in reply:
            return reply["height"], reply["width"]
        return self._frame_sizes.get(reply.get("frame_idx"), (None, None))  # None: enough for RLE, PNG

    # ------------------------------------------------------------------ resuming
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _ask(self, message: dict) -> dict:
        message = {**message, "seq": self._next_seq()}
        return self._until_done(lambda: self._exchange([json.dumps(message)]))

    def _until_done(self, exchange) -> dict:
        """Runs ``exchange`` (None: only connect) until it gets an answer that is not "retry" or "reconnect"."""
        deadline, delay, sends = time.monotonic() + self.retry_s, 0.1, 0
        while True:
            try:
                reply = self._connect() if self._ws is None else None
                if reply is None or (reply.get("type") == "started" and exchange is not None):
                    sends += 1
                    reply = exchange()
                if reply.get("duplicate") and sends == 1:  # only a resend can have been applied before
                    raise SeqConflictError(
                        "seq_conflict",
                        "seq",
                        f"message {reply.get('seq')} was applied before this client sent it: another client is "
                        f"sending to session {self.session} under the same numbers",
                    )
                if reply.get("type") != "error":
                    self._acked = max(self._acked, reply.get("seq") or 0)
                    return reply
                error = error_from_body(reply)
                if error.code in RECONNECT:
                    self._disconnect(next_url=True)
                elif error.code not in RETRIED:
                    raise error
                else:
                    self.retries += 1
                if time.monotonic() > deadline:
                    raise error
            except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError):
                self._disconnect(next_url=True)
                if time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(2 * delay, 1.0)

    def _connect(self) -> dict:
        """Opens the socket and sends ``start``; its reply (``started``, or an error after which it is closed)."""
        url = f"{self.urls[self._url_index].rstrip('/')}/video/{self.session}"
        self._ws = connect(url, additional_headers=self._headers, max_size=None, open_timeout=10)
        started = self._exchange([json.dumps(self._start)])
        if started.get("type") == "error":
            self._disconnect()
            return started
        if self._connected:
            self.reconnects += 1
            if (started.get("last_seq") or 0) < self._acked:  # what it acknowledged before is not there
                self._disconnect()
                raise SessionLostError(
                    "session_lost",
                    "session",
                    f"session {self.session} is gone (expired, deleted or its store lost it): start anew",
                )
        self._connected = True
        return started

    def _exchange(self, messages: list) -> dict:
        for m in messages:
            self._ws.send(m)
        return json.loads(self._ws.recv(timeout=self.timeout))

    def _disconnect(self, next_url: bool = False) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:  # noqa: BLE001  (already broken: nothing to close politely)
                pass
            self._ws = None
        if next_url:
            self._url_index = (self._url_index + 1) % len(self.urls)

    def __enter__(self) -> VideoSession:
        return self

    def __exit__(self, *exc) -> None:
        self._disconnect()
