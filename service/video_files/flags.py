"""Which file sessions propagate now, and which were asked to stop: seen by every worker (Redis keys beside the
session's, or this process's memory with the in-process store).

A running propagation renews its mark at every frame (it expires after twice the lease time, so a killed worker's
mark goes away by itself); a cancel raises a flag that the propagation reads before its next frame.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from ..video.store import RedisStateStore, StateStoreUnavailable


class PropagationFlags:
    def __init__(self, store, lease_s: float):
        self.ttl_ms = int(2 * lease_s * 1000)
        self._redis = store.client if isinstance(store, RedisStateStore) else None
        self._prefix = getattr(store, "prefix", "")
        self._lock = threading.Lock()
        self._local: dict[tuple[str, str], float] = {}  # (video, flag) -> expiry (time.monotonic)

    def _key(self, video_id: str, flag: str) -> str:
        return f"{self._prefix}:video:{video_id}:{flag}"

    @contextmanager
    def _reaching_redis(self):
        import redis

        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            raise StateStoreUnavailable(f"video state store (Redis) unreachable for a propagation flag: {e}") from e

    def _set(self, video_id: str, flag: str) -> None:
        if self._redis is not None:
            with self._reaching_redis():
                self._redis.set(self._key(video_id, flag), 1, px=self.ttl_ms)
            return
        with self._lock:
            self._local[(video_id, flag)] = time.monotonic() + self.ttl_ms / 1000

    def _get(self, video_id: str, flag: str) -> bool:
        if self._redis is not None:
            with self._reaching_redis():
                return bool(self._redis.exists(self._key(video_id, flag)))
        with self._lock:
            return self._local.get((video_id, flag), 0) > time.monotonic()

    def _clear(self, video_id: str, *flags: str) -> None:
        if self._redis is not None:
            with self._reaching_redis():
                self._redis.delete(*(self._key(video_id, f) for f in flags))
            return
        with self._lock:
            for f in flags:
                self._local.pop((video_id, f), None)

    def start(self, video_id: str) -> None:
        """A propagation begins: an earlier cancel no longer applies."""
        self._clear(video_id, "cancel")
        self._set(video_id, "propagating")

    def renew(self, video_id: str) -> None:
        self._set(video_id, "propagating")

    def running(self, video_id: str) -> bool:
        return self._get(video_id, "propagating")

    def cancel(self, video_id: str) -> None:
        self._set(video_id, "cancel")

    def cancelled(self, video_id: str) -> bool:
        return self._get(video_id, "cancel")

    def stop(self, video_id: str) -> None:
        self._clear(video_id, "propagating", "cancel")
