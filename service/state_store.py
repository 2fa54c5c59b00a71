"""Where video sessions' tracker states live between frames: in this process, or in Redis shared by workers.

Redis layout (one hash and one lease per session, both with the session TTL, renewed on every use):

    {prefix}:video:{session}:state   hash  ver -> int, meta -> state blob, frame -> current frame's bytes,
                                           mem:{obj}:{t} -> one spatial memory blob (see model/video/codec.py)
    {prefix}:video:{session}:lease   string, the owner token of the worker advancing the session (short PX)

A save is one MULTI/EXEC under WATCH of the hash: it writes the new meta, only the memories that are new or on
the current frame, deletes those the state dropped, bumps ``ver`` and renews the TTL, or nothing at all if
another worker wrote in between (``StaleStateError``). The lease keeps two workers from advancing one session
at once; the version check catches the rest. Each worker keeps the last state it saved or read, and re-reads
only when the stored ``ver`` differs.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

from service.errors import ServiceError

from model.video.codec import StateFormatError, decode_state, encode_memory, encode_state, memory_field
from model.video.state import TrackerState

LOCAL_COPIES = 64  # sessions whose last state a Redis-backed worker keeps in memory

__all__ = [
    "StoredSession", "SessionInfo", "VideoStateStore", "InProcessStateStore", "RedisStateStore", "StateStoreError",
    "StateStoreUnavailable", "SessionBusyError", "StaleStateError", "StateFormatError", "make_state_store",
]


class StateStoreError(ServiceError):
    """Base of the store's errors; ``status`` is the HTTP status the service answers with."""

    status, code = 500, "state_store_error"


class StateStoreUnavailable(StateStoreError):
    status, code = 503, "state_store_unavailable"


class SessionBusyError(StateStoreError):
    status, code = 409, "session_busy"


class StaleStateError(StateStoreError):
    status, code = 409, "stale_state"


@dataclass
class StoredSession:
    version: int  # 0: never saved
    state: TrackerState
    frame: bytes | None  # the current frame as the client sent it (a prompt on it may reach another worker)


@dataclass
class SessionInfo:
    version: int
    bytes: int  # everything held for the session
    frame_bytes: int  # of which the current frame as sent (its size varies with the picture)
    ttl_s: float


class VideoStateStore(ABC):
    def __init__(self, fingerprint: str, ttl_s: float, lease_s: float = 30.0):
        self.fingerprint = fingerprint
        self.ttl_s = ttl_s
        self.lease_s = lease_s

    @abstractmethod
    def load(self, session: str) -> StoredSession | None: ...

    @abstractmethod
    def save(self, session: str, state: TrackerState, frame: bytes | None, expected_version: int) -> int:
        """Stores ``state`` if the stored version is still ``expected_version``; returns the new version."""

    @abstractmethod
    def delete(self, session: str) -> bool: ...

    @abstractmethod
    def info(self, session: str) -> SessionInfo | None: ...

    @abstractmethod
    def touch(self, session: str) -> None:
        """Renews the session's TTL."""

    @contextmanager
    @abstractmethod
    def lease(self, session: str):
        """Held while one worker loads, advances and saves the session; raises ``SessionBusyError``."""
        yield

    def close(self) -> None:
        pass


class InProcessStateStore(VideoStateStore):
    """The single-worker default: states kept as objects in a dict, expired lazily."""

    def __init__(self, fingerprint: str, ttl_s: float, lease_s: float = 30.0):
        super().__init__(fingerprint, ttl_s, lease_s)
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[StoredSession, float, int]] = {}  # session -> (stored, expiry, bytes)
        self._leases: set[str] = set()

    def _live(self, session: str):
        now = time.monotonic()
        for key in [k for k, (_, expiry, _) in self._sessions.items() if expiry <= now]:
            del self._sessions[key]
        return self._sessions.get(session)

    def load(self, session):
        with self._lock:
            entry = self._live(session)
            return None if entry is None else entry[0]

    def save(self, session, state, frame, expected_version):
        with self._lock:
            entry = self._live(session)
            current = entry[0].version if entry else 0
            if current != expected_version:
                raise StaleStateError(None, f"session {session} was changed elsewhere (version {current}, expected {expected_version})")
            self._sessions[session] = (StoredSession(current + 1, state, frame), time.monotonic() + self.ttl_s, state.nbytes())
            return current + 1

    def delete(self, session):
        with self._lock:
            return self._sessions.pop(session, None) is not None

    def info(self, session):
        with self._lock:
            entry = self._live(session)
            if entry is None:
                return None
            stored, expiry, size = entry
            frame = len(stored.frame or b"")
            return SessionInfo(stored.version, size + frame, frame, max(0.0, expiry - time.monotonic()))

    def touch(self, session):
        with self._lock:
            entry = self._live(session)
            if entry is not None:
                self._sessions[session] = (entry[0], time.monotonic() + self.ttl_s, entry[2])

    @contextmanager
    def lease(self, session):
        with self._lock:
            if session in self._leases:
                raise SessionBusyError(None, f"session {session} is being advanced by another request")
            self._leases.add(session)
        try:
            yield
        finally:
            with self._lock:
                self._leases.discard(session)


class RedisStateStore(VideoStateStore):
    def __init__(self, url: str, fingerprint: str, ttl_s: float, lease_s: float = 30.0, prefix: str = "sam2refiner",
                 timeout_s: float = 2.0):
        super().__init__(fingerprint, ttl_s, lease_s)
        import redis

        self._redis_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._watch_error = redis.exceptions.WatchError
        self.client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.prefix = prefix
        # session -> (version, stored, memory fields): this worker's last copy, most recently used last
        self._local: OrderedDict[str, tuple[int, StoredSession, set[str]]] = OrderedDict()
        self._local_lock = threading.Lock()

    def _key(self, session: str, part: str) -> str:
        return f"{self.prefix}:video:{session}:{part}"

    @contextmanager
    def _errors(self, what: str):
        try:
            yield
        except self._redis_errors as e:
            raise StateStoreUnavailable(None, f"video state store (Redis) unreachable while {what}: {e}") from e

    def load(self, session):
        key = self._key(session, "state")
        with self._errors("loading the session"):
            raw_version = self.client.hget(key, "ver")
            if raw_version is None:
                self._forget(session)
                return None
            version = int(raw_version)
            cached = self._local.get(session)
            if cached is not None and cached[0] == version:
                return cached[1]
            blobs = self.client.hgetall(key)
        fields = {k.decode(): v for k, v in blobs.items()}
        if "meta" not in fields or int(fields.get("ver", -1)) != version:
            raise StaleStateError(None, f"session {session} changed while being read; retry")
        memories = {k: v for k, v in fields.items() if k.startswith("mem:")}
        stored = StoredSession(version, decode_state(fields["meta"], memories, self.fingerprint), fields.get("frame"))
        self._remember(session, stored, set(memories))
        return stored

    def save(self, session, state, frame, expected_version):
        key = self._key(session, "state")
        meta, memories = encode_state(state, self.fingerprint)
        cached = self._local.get(session)
        known = cached[2] if cached is not None and cached[0] == expected_version else None
        ttl_ms = int(self.ttl_s * 1000)
        with self._errors("saving the session"):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.hget(key, "ver")
                    current = int(raw) if raw is not None else 0
                    if current != expected_version:
                        raise StaleStateError(None, f"session {session} was changed elsewhere (version {current}, expected {expected_version})")
                    if known is None:  # no local copy of what is stored: list it
                        known = {k.decode() for k in pipe.hkeys(key) if k.startswith(b"mem:")}
                    current_frame = {memory_field(o.obj_id, state.frame_idx) for o in state.objects.values()}
                    to_write = {f: t for f, t in memories.items() if f not in known or f in current_frame}
                    to_drop = sorted(known - set(memories))
                    pipe.multi()
                    mapping = {"meta": meta, "ver": current + 1, **{f: encode_memory(t, self.fingerprint) for f, t in to_write.items()}}
                    if frame is not None:
                        mapping["frame"] = frame
                    pipe.hset(key, mapping=mapping)
                    if to_drop:
                        pipe.hdel(key, *to_drop)
                    if frame is None:
                        pipe.hdel(key, "frame")
                    pipe.pexpire(key, ttl_ms)
                    pipe.execute()
                except self._watch_error as e:
                    raise StaleStateError(None, f"session {session} was changed by another worker during the save") from e
        stored = StoredSession(current + 1, state, frame)
        self._remember(session, stored, set(memories))
        return current + 1

    def delete(self, session):
        self._forget(session)
        with self._errors("deleting the session"):
            return self.client.delete(self._key(session, "state"), self._key(session, "lease")) > 0

    def info(self, session):
        key = self._key(session, "state")
        with self._errors("reading the session"):
            with self.client.pipeline(transaction=False) as pipe:
                pipe.hget(key, "ver")
                pipe.pttl(key)
                pipe.hkeys(key)
                raw, ttl_ms, fields = pipe.execute()
            if raw is None:
                return None
            with self.client.pipeline(transaction=False) as pipe:
                for f in fields:
                    pipe.hstrlen(key, f)
                sizes = dict(zip(fields, pipe.execute()))
        return SessionInfo(int(raw), int(sum(sizes.values())), int(sizes.get(b"frame", 0)), max(0, ttl_ms) / 1000)

    def touch(self, session):
        with self._errors("renewing the session"):
            self.client.pexpire(self._key(session, "state"), int(self.ttl_s * 1000))

    @contextmanager
    def lease(self, session):
        key, token = self._key(session, "lease"), uuid.uuid4().hex
        with self._errors("taking the session lease"):
            if not self.client.set(key, token, nx=True, px=int(self.lease_s * 1000)):
                raise SessionBusyError(None, f"session {session} is being advanced by another worker; retry")
        try:
            yield
        finally:
            try:  # release only our own lease (compare-and-delete in one step)
                self.client.eval(_RELEASE, 1, key, token)
            except self._redis_errors:
                pass  # it expires by itself

    def _remember(self, session, stored, fields):
        with self._local_lock:
            self._local[session] = (stored.version, stored, fields)
            self._local.move_to_end(session)
            while len(self._local) > LOCAL_COPIES:
                self._local.popitem(last=False)

    def _forget(self, session):
        with self._local_lock:
            self._local.pop(session, None)

    def close(self):
        self.client.close()


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def make_state_store(redis_url: str | None, fingerprint: str, ttl_s: float, lease_s: float = 30.0,
                     prefix: str = "sam2refiner") -> VideoStateStore:
    """Redis when a URL is set (several workers can share sessions), else this process's memory."""
    if redis_url:
        return RedisStateStore(redis_url, fingerprint, ttl_s, lease_s, prefix)
    return InProcessStateStore(fingerprint, ttl_s, lease_s)
