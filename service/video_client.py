"""A small synchronous client for WebSocket /video/{session} (the protocol is in README.md, section video).

    from service.video_client import VideoSession

    with VideoSession("ws://127.0.0.1:8000", "cam-1", refine=True) as video:
        for i, jpeg in enumerate(jpeg_frames):
            reply = video.frame(jpeg)                      # {"frame_idx", "objects": [...], "timings": {...}}
            if i == 0:
                reply = video.prompt([{"obj_id": 1, "points": [[320, 240]], "labels": [1]}])
            masks = video.masks(reply)                     # {obj_id: bool [H, W]}
        video.close()                                      # deletes the session; leaving without it keeps it (TTL)

A reconnect with the same session id, to any worker sharing the Redis, continues the session.
"""

from __future__ import annotations

import json

import numpy as np
from websockets.sync.client import connect

from .mask_codecs import decode_rle


class VideoSessionError(RuntimeError):
    """The server answered a message with ``{"type": "error"}``; ``code`` and ``field`` say why."""

    def __init__(self, reply: dict):
        super().__init__(f"{reply.get('code')}: {reply.get('field')}: {reply.get('message')}")
        self.code, self.field, self.reply = reply.get("code"), reply.get("field"), reply


class VideoSession:
    def __init__(self, url: str, session: str, refine: bool | None = None, api_key: str | None = None, timeout: float = 300):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self.timeout = timeout
        self._ws = connect(f"{url.rstrip('/')}/video/{session}", additional_headers=headers, max_size=None)
        start = {"type": "start", "format": "rle"} if refine is None else {"type": "start", "refine": refine, "format": "rle"}
        self.started = self._ask(start)

    def frame(self, encoded: bytes) -> dict:
        """Sends one JPEG/PNG frame; returns every tracked object's mask on it."""
        return self._ask(encoded)

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
        reply = self._ask({"type": "close"})
        self._ws.close()
        return reply

    @staticmethod
    def masks(reply: dict) -> dict[int, np.ndarray]:
        return {o["obj_id"]: decode_rle(o["mask"]) for o in reply["objects"]}

    def _ask(self, message) -> dict:
        self._ws.send(message if isinstance(message, bytes) else json.dumps(message))
        reply = json.loads(self._ws.recv(timeout=self.timeout))
        if reply.get("type") == "error":
            raise VideoSessionError(reply)
        return reply

    def __enter__(self) -> "VideoSession":
        return self

    def __exit__(self, *exc) -> None:
        self._ws.close()
