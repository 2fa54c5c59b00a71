"""Where video sessions' tracker states live between frames: in this process, or in Redis shared by workers.

Redis layout (one hash and one lease per session, both with the session TTL, renewed on every use):

    {prefix}:video:{session}:state   hash  ver -> int, epoch -> random id drawn when the session was created,
                                           meta -> state blob, frame -> current frame's bytes,
                                           seq, digest, reply -> the client's number of the last message applied
                                                         with one, a digest of that message (a resend with
                                                         the same seq and another digest is another
                                                         message) and the reply it got (JSON),
                                           mem:{obj}:{t} -> one spatial memory blob (see model/video/codec.py)
    {prefix}:video:{session}:lease   string "{worker}:{attempt}": who is advancing the session (short PX)

A save is one MULTI/EXEC under WATCH of the hash: it writes the new meta, only the memories that are new or on
the current frame, deletes those the state dropped, bumps ``ver`` and renews the TTL, or nothing at all if the
stored session is no longer the one loaded (``StaleStateError``). Versions restart at 1 when a session is
deleted, expires or Redis restarts and a new one of the same name is created, so a session is identified by
(``epoch``, ``ver``), never by ``ver`` alone. Each worker keeps the last state it saved or read, and re-reads
only when the stored identity differs.

The lease keeps two workers from advancing one session at once; the identity check catches the rest. A lease
names its worker, so a ``SET`` that Redis runs late (sent during a stall, its reply never seen) leaves a lease
this worker takes over on its next attempt; a release that fails is retried in the background until it goes
through or the lease has expired by itself.

Store errors are plain exceptions (``core.errors.DomainError``); each names the error a client is answered with.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

from sam2refiner.model.video.codec import StateFormatError, decode_state, encode_memory, encode_state, memory_field
from sam2refiner.model.video.state import TrackerState

from ..core.errors import (
    DomainError,
    SessionBusyAnswer,
    SessionUnreadableError,
    StaleStateAnswer,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)

LOCAL_COPIES = 64  # sessions whose last state a Redis-backed worker keeps in memory

__all__ = [
    "AppliedMessage",
    "StoredSession",
    "SessionInfo",
    "VideoStateStore",
    "InProcessStateStore",
    "RedisStateStore",
    "StateStoreError",
    "StateStoreUnavailable",
    "SessionBusyError",
    "StaleStateError",
    "UnreadableSessionError",
    "StateFormatError",
    "StateCodec",
    "make_state_store",
]


class StateStoreError(DomainError):
    """Base of the store's errors. ``kind`` names it in the store-error metric."""

    kind = "error"


class StateStoreUnavailable(StateStoreError):
    """Redis refused the connection or did not answer in time."""

    kind = "unavailable"
    answer = StoreUnavailableError


class SessionBusyError(StateStoreError):
    """Another worker, or another request on this one, holds the session's lease."""

    kind = "session_busy"
    answer = SessionBusyAnswer


class StaleStateError(StateStoreError):
    """The stored session is no longer the one loaded: another worker advanced it, or it was created anew."""

    kind = "stale_state"
    answer = StaleStateAnswer


class UnreadableSessionError(StateStoreError):
    """What is stored under the session's keys cannot be read (a damaged field, a key of another Redis type): only
    deleting the session helps."""

    kind = "unreadable"
    answer = SessionUnreadableError
    field = "session"


DELETE_IT = "delete the session (DELETE /video/{session}, or a close message) and start it anew"


@contextmanager
def _readable(session: str, what: str):
    """Turns a stored value that does not parse into ``UnreadableSessionError``."""
    try:
        yield
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:  # StateFormatError is a ValueError
        raise UnreadableSessionError(
            f"session {session}: its stored {what} cannot be read ({e}); " + DELETE_IT.format(session=session)
        ) from e


@dataclass(frozen=True)
class AppliedMessage:
    """The last client message applied with a sequence number: its ``seq``, the digest of what it said (a resend
    says the same; None where a version before digests saved it) and its reply (sent again to a resend of it)."""

    seq: int
    digest: str | None
    reply: bytes


@dataclass
class StoredSession:
    version: int  # 1 after the first save
    epoch: str  # drawn when the session is created: a session created again under the same name is another one
    state: TrackerState
    frame: bytes | None  # the current frame as the client sent it (a prompt on it may reach another worker)
    applied: AppliedMessage | None = None


@dataclass
class SessionInfo:
    version: int
    bytes: int  # everything held for the session
    frame_bytes: int  # of which the current frame as sent (its size varies with the picture)
    ttl_s: float


def _identity(stored: StoredSession | None) -> tuple[int, str] | None:
    return None if stored is None else (stored.version, stored.epoch)


def _check_unchanged(session: str, stored: tuple[int, str] | None, expected: StoredSession | None) -> None:
    if stored == _identity(expected):
        return
    if stored is None:
        raise StaleStateError(f"session {session} was deleted or expired while being advanced")
    if expected is None or stored[1] != expected.epoch:
        raise StaleStateError(f"session {session} was created anew elsewhere while being advanced")
    raise StaleStateError(f"session {session} was changed elsewhere (version {stored[0]}, expected {expected.version})")


def _stored_identity(session: str, raw_version, raw_epoch) -> tuple[int, str]:
    """(version, epoch) as Redis holds them."""
    with _readable(session, "version"):
        return int(raw_version), (raw_epoch or b"").decode()


def _new_epoch() -> str:
    return uuid.uuid4().hex[:16]


class StateCodec:
    """How a store turns a session's state into a ``meta`` blob and ``mem:*`` fields, and back: the video tracker's
    by default (``model/video/codec.py``); file sessions bring their own (``service/video_files/state.py``). A state
    has ``nbytes()``."""

    def __init__(self, fingerprint: str):
        self.fingerprint = fingerprint

    def encode(self, state) -> tuple[bytes, dict[str, object]]:
        """(meta blob, {field: value}); ``encode_field`` makes a value's bytes, for the fields written."""
        return encode_state(state, self.fingerprint)

    def encode_field(self, value) -> bytes:
        return encode_memory(value, self.fingerprint)

    def rewrite(self, state) -> set[str]:
        """Fields written even when stored already (they may have changed): the tracker's current frame."""
        return {memory_field(o.obj_id, state.frame_idx) for o in state.objects.values()}

    def decode(self, meta: bytes, fields: dict[str, bytes]):
        return decode_state(meta, fields, self.fingerprint)

    def saved(self, state) -> None:
        """Told after a state was saved or read (a codec that tracks what changed starts anew)."""


class VideoStateStore(ABC):
    def __init__(self, fingerprint: str, ttl_s: float, lease_s: float = 30.0, codec: StateCodec | None = None):
        self.fingerprint = fingerprint
        self.ttl_s = ttl_s
        self.lease_s = lease_s
        self.codec = codec or StateCodec(fingerprint)

    @abstractmethod
    def load(self, session: str) -> StoredSession | None: ...

    @abstractmethod
    def save(
        self,
        session: str,
        state: TrackerState,
        frame: bytes | None,
        expected: StoredSession | None,
        applied: AppliedMessage | None = None,
    ) -> StoredSession:
        """Stores ``state`` if the stored session is still ``expected`` (None: it must not exist yet) and returns
        what is stored now; ``applied`` None keeps the stored one."""

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

    @abstractmethod
    def held_bytes(self) -> int:
        """Bytes of tracker state this process holds for sessions that have not expired."""

    def close(self) -> None:  # noqa: B027  (a store without connections has nothing to close)
        """Releases what the store holds (connections, leases a failure left)."""


@dataclass
class _Entry:
    stored: StoredSession
    expires: float  # time.monotonic()
    nbytes: int  # of the tracker state


class InProcessStateStore(VideoStateStore):
    """The single-worker default: states kept as objects in a dict, expired lazily."""

    def __init__(self, fingerprint: str, ttl_s: float, lease_s: float = 30.0, codec: StateCodec | None = None):
        super().__init__(fingerprint, ttl_s, lease_s, codec)
        self._lock = threading.Lock()
        self._sessions: dict[str, _Entry] = {}
        self._leases: set[str] = set()

    def _live(self, session: str) -> _Entry | None:
        now = time.monotonic()
        for key in [k for k, e in self._sessions.items() if e.expires <= now]:
            del self._sessions[key]
        return self._sessions.get(session)

    def load(self, session):
        with self._lock:
            entry = self._live(session)
            return None if entry is None else entry.stored

    def save(self, session, state, frame, expected, applied=None):
        with self._lock:
            entry = self._live(session)
            current = entry.stored if entry else None
            _check_unchanged(session, _identity(current), expected)
            stored = StoredSession(
                current.version + 1 if current else 1,
                current.epoch if current else _new_epoch(),
                state,
                frame,
                applied or (current.applied if current else None),
            )
            self._sessions[session] = _Entry(stored, time.monotonic() + self.ttl_s, state.nbytes())
            self.codec.saved(state)
            return stored

    def delete(self, session):
        with self._lock:
            return self._sessions.pop(session, None) is not None

    def info(self, session):
        with self._lock:
            entry = self._live(session)
            if entry is None:
                return None
            frame = len(entry.stored.frame or b"")
            return SessionInfo(
                entry.stored.version, entry.nbytes + frame, frame, max(0.0, entry.expires - time.monotonic())
            )

    def touch(self, session):
        with self._lock:
            entry = self._live(session)
            if entry is not None:
                entry.expires = time.monotonic() + self.ttl_s

    @contextmanager
    def lease(self, session):
        with self._lock:
            if session in self._leases:
                raise SessionBusyError(f"session {session} is being advanced by another request")
            self._leases.add(session)
        try:
            yield
        finally:
            with self._lock:
                self._leases.discard(session)

    def held_bytes(self):
        with self._lock:
            self._live("")
            return sum(e.nbytes for e in self._sessions.values())


@dataclass
class _LocalCopy:
    """A Redis-backed worker's copy of what it last saved or read."""

    stored: StoredSession
    fields: set[str]  # the memory fields stored in Redis
    nbytes: int
    expires: float  # time.monotonic() when the stored session expires, as far as this worker renewed it


# Takes the lease if it is free or held by an earlier attempt of this worker (ARGV[2], the worker's prefix).
# Returns 0 (taken), 1 (taken over from this worker's earlier attempt) or the holder's token.
_ACQUIRE = """
local holder = redis.call('get', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[2])) ~= ARGV[2] then return holder end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
if holder then return 1 end
return 0
"""
# Deletes the lease only if it is still this very attempt's.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisStateStore(VideoStateStore):
    def __init__(
        self,
        url: str,
        fingerprint: str,
        ttl_s: float,
        lease_s: float = 30.0,
        prefix: str = "sam2refiner",
        timeout_s: float = 2.0,
        codec: StateCodec | None = None,
        local_copies: int = LOCAL_COPIES,
    ):
        super().__init__(fingerprint, ttl_s, lease_s, codec)
        self.local_copies = local_copies
        import redis

        self._redis_errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._watch_error = redis.exceptions.WatchError
        self._response_error = redis.exceptions.ResponseError
        self.client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self.prefix = prefix
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"  # this worker, in lease tokens
        self._acquire_script = self.client.register_script(_ACQUIRE)
        self._release_script = self.client.register_script(_RELEASE)
        self._local: OrderedDict[str, _LocalCopy] = OrderedDict()  # most recently used last
        self._local_lock = threading.Lock()
        self._lease_lock = threading.Lock()
        self._held: set[str] = set()  # sessions whose lease a request of this worker holds now
        self._attempts = 0
        self._unreleased: dict[str, tuple[str, str, float]] = {}  # token -> (session, key, give up at)
        self._releaser: threading.Thread | None = None
        self._closed = threading.Event()

    def _key(self, session: str, part: str) -> str:
        return f"{self.prefix}:video:{session}:{part}"

    @contextmanager
    def _errors(self, what: str, session: str):
        try:
            yield
        except self._redis_errors as e:
            raise StateStoreUnavailable(f"video state store (Redis) unreachable while {what}: {e}") from e
        except self._response_error as e:
            if "WRONGTYPE" not in str(e):
                raise
            raise UnreadableSessionError(
                f"session {session}: a key of it holds another Redis type ({e}); " + DELETE_IT.format(session=session)
            ) from e

    def load(self, session):
        key = self._key(session, "state")
        with self._errors("loading the session", session):
            raw_version, raw_epoch = self.client.hmget(key, "ver", "epoch")
            if raw_version is None:
                self._forget(session)
                return None
            identity = _stored_identity(session, raw_version, raw_epoch)
            cached = self._local_copy(session)
            if cached is not None and _identity(cached.stored) == identity:
                return cached.stored
            blobs = self.client.hgetall(key)
        with _readable(session, "state"):
            fields = {k.decode(): v for k, v in blobs.items()}
            if not fields or _stored_identity(session, fields.get("ver"), fields.get("epoch")) != identity:
                raise StaleStateError(f"session {session} changed while being read; retry")
            memories = {k: v for k, v in fields.items() if k.startswith("mem:")}
            applied = None
            if "seq" in fields and "reply" in fields:
                digest = fields.get("digest")
                applied = AppliedMessage(int(fields["seq"]), digest.decode() if digest else None, fields["reply"])
            state = self.codec.decode(fields["meta"], memories)
        stored = StoredSession(identity[0], identity[1], state, fields.get("frame"), applied)
        self._remember(session, stored, set(memories))
        return stored

    def save(self, session, state, frame, expected, applied=None):
        key = self._key(session, "state")
        meta, memories = self.codec.encode(state)
        cached = self._local_copy(session)
        known = (
            cached.fields
            if cached is not None and expected is not None and _identity(cached.stored) == _identity(expected)
            else None
        )
        version, epoch = (expected.version + 1, expected.epoch) if expected is not None else (1, _new_epoch())
        ttl_ms = int(self.ttl_s * 1000)
        with self._errors("saving the session", session):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw_version, raw_epoch = pipe.hmget(key, "ver", "epoch")
                    stored = None if raw_version is None else _stored_identity(session, raw_version, raw_epoch)
                    _check_unchanged(session, stored, expected)
                    if known is None:  # no local copy of what is stored: list it
                        known = {k.decode() for k in pipe.hkeys(key) if k.startswith(b"mem:")}
                    rewrite = self.codec.rewrite(state)
                    to_write = {f: t for f, t in memories.items() if f not in known or f in rewrite}
                    to_drop = sorted(known - set(memories))
                    pipe.multi()
                    mapping = {
                        "meta": meta,
                        "ver": version,
                        "epoch": epoch,
                        **{f: self.codec.encode_field(t) for f, t in to_write.items()},
                    }
                    if frame is not None:
                        mapping["frame"] = frame
                    if applied is not None:
                        mapping.update(seq=applied.seq, digest=applied.digest or "", reply=applied.reply)
                    pipe.hset(key, mapping=mapping)
                    if to_drop:
                        pipe.hdel(key, *to_drop)
                    if frame is None:
                        pipe.hdel(key, "frame")
                    pipe.pexpire(key, ttl_ms)
                    pipe.execute()
                except self._watch_error as e:
                    raise StaleStateError(f"session {session} was changed by another worker during the save") from e
        saved = StoredSession(version, epoch, state, frame, applied or (expected.applied if expected else None))
        self.codec.saved(state)
        self._remember(session, saved, set(memories))
        return saved

    def delete(self, session):
        self._forget(session)
        with self._errors("deleting the session", session):
            return self.client.delete(self._key(session, "state"), self._key(session, "lease")) > 0

    def info(self, session):
        key = self._key(session, "state")
        with self._errors("reading the session", session):
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
        with _readable(session, "version"):
            version = int(raw)
        return SessionInfo(version, int(sum(sizes.values())), int(sizes.get(b"frame", 0)), max(0, ttl_ms) / 1000)

    def touch(self, session):
        with self._errors("renewing the session", session):
            self.client.pexpire(self._key(session, "state"), int(self.ttl_s * 1000))
        with self._local_lock:
            if session in self._local:
                self._local[session].expires = time.monotonic() + self.ttl_s

    # ------------------------------------------------------------------ leases
    @contextmanager
    def lease(self, session):
        key = self._key(session, "lease")
        with self._lease_lock:
            if session in self._held:
                raise SessionBusyError(f"session {session} is being advanced by another request on this worker; retry")
            self._held.add(session)
            self._attempts += 1
            token = f"{self.owner}:{self._attempts}"
        try:
            self._acquire(session, key, token)
            try:
                yield
            finally:
                self._release(session, key, token)
        finally:
            with self._lease_lock:
                self._held.discard(session)

    def _acquire(self, session: str, key: str, token: str) -> None:
        try:
            with self._errors("taking the session lease", session):
                outcome = self._acquire_script(
                    keys=[key], args=[token, f"{self.owner}:", int(self.lease_s * 1000)], client=self.client
                )
        except StateStoreUnavailable:
            # Redis may still run the SET once it answers again: clear that lease when it does.
            self._release_later(session, key, token)
            raise
        if isinstance(outcome, bytes):
            raise SessionBusyError(f"session {session} is being advanced by another worker ({outcome.decode()}); retry")
        if outcome == 1:
            log.warning(
                "video session %s: took over this worker's own lease left by an earlier attempt whose "
                "Redis reply was lost",
                session,
            )

    def _release(self, session: str, key: str, token: str) -> None:
        try:
            self._release_script(keys=[key], args=[token], client=self.client)
        except self._redis_errors as e:
            log.warning(
                "video session %s: releasing its lease failed (%s); retrying in the background (the "
                "lease expires by itself within %.0f s)",
                session,
                e,
                self.lease_s,
            )
            self._release_later(session, key, token)

    def _release_later(self, session: str, key: str, token: str) -> None:
        with self._lease_lock:
            self._unreleased[token] = (session, key, time.monotonic() + self.lease_s)
            if self._releaser is None:
                self._releaser = threading.Thread(target=self._retry_releases, name="video-lease-releaser", daemon=True)
                self._releaser.start()

    def _retry_releases(self) -> None:
        """Deletes leases this worker may have left (failed releases, SETs Redis may run late) once Redis answers."""
        delay = 0.05
        while not self._closed.wait(delay):
            delay = min(2 * delay, 1.0)
            with self._lease_lock:
                pending = list(self._unreleased.items())
                if not pending:
                    self._releaser = None
                    return
            for token, (session, key, give_up_at) in pending:
                try:
                    released = self._release_script(keys=[key], args=[token], client=self.client)
                except self._redis_errors:
                    released = 0
                if released:
                    log.warning("video session %s: lease released after Redis answered again", session)
                if released or time.monotonic() > give_up_at:
                    with self._lease_lock:
                        self._unreleased.pop(token, None)

    # ------------------------------------------------------------------ local copies
    def _local_copy(self, session: str) -> _LocalCopy | None:
        with self._local_lock:
            copy = self._local.get(session)
            if copy is None or copy.expires <= time.monotonic():
                return None
            self._local.move_to_end(session)
            return copy

    def _remember(self, session, stored, fields):
        with self._local_lock:
            self._local[session] = _LocalCopy(stored, fields, stored.state.nbytes(), time.monotonic() + self.ttl_s)
            self._local.move_to_end(session)
            while len(self._local) > self.local_copies:
                self._local.popitem(last=False)

    def _forget(self, session):
        with self._local_lock:
            self._local.pop(session, None)

    def held_bytes(self):
        with self._local_lock:
            now = time.monotonic()
            for session in [s for s, c in self._local.items() if c.expires <= now]:
                del self._local[session]
            return sum(c.nbytes for c in self._local.values())

    def close(self):
        self._closed.set()
        for token, (session, key, _) in list(self._unreleased.items()):
            try:
                self._release_script(keys=[key], args=[token], client=self.client)
            except self._redis_errors:
                log.warning(
                    "video session %s: its lease could not be released at shutdown; it expires within %.0f s",
                    session,
                    self.lease_s,
                )
        self._unreleased.clear()
        self.client.close()


def make_state_store(
    redis_url: str | None,
    fingerprint: str,
    ttl_s: float,
    lease_s: float = 30.0,
    prefix: str = "sam2refiner",
    timeout_s: float = 2.0,
    codec: StateCodec | None = None,
    local_copies: int = LOCAL_COPIES,
) -> VideoStateStore:
    """Redis when a URL is set (several workers can share sessions), else this process's memory. ``local_copies``:
    sessions whose last state a Redis-backed worker keeps in memory."""
    if redis_url:
        return RedisStateStore(redis_url, fingerprint, ttl_s, lease_s, prefix, timeout_s, codec, local_copies)
    return InProcessStateStore(fingerprint, ttl_s, lease_s, codec)
