"""The video state stores: round trips without pickle, versions and epochs, leases, TTLs, and Redis failures
(a refused connection; a Redis of the test's own frozen with SIGSTOP)."""

from __future__ import annotations

import logging
import os
import signal

import pytest
import redis
import torch

from sam2refiner.model.config import RefinerSwitches
from sam2refiner.model.video.state import FrameMemory, ObjectTrack, TrackerState
from sam2refiner.service.video.store import (
    AppliedMessage,
    InProcessStateStore,
    RedisStateStore,
    SessionBusyError,
    StaleStateError,
    StateStoreUnavailable,
    UnreadableSessionError,
)
from tests.service.processes import frozen, start_redis, stop_redis
from tests.tiers import tier
from tests.waiting import wait_until

FP = "hiera_t/256/test"


def _memory(seed: int, features: bool = True) -> FrameMemory:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(1, 64, 16, 16, generator=g).to(torch.bfloat16) if features else None
    return FrameMemory(torch.randn(1, 256, generator=g), torch.randn(1, 1, generator=g), feats)


def make_state(frame_idx: int = 3) -> TrackerState:
    obj = ObjectTrack(
        7,
        start_frame=0,
        first_coords=torch.tensor([[[10.0, 20.0]]]),
        first_labels=torch.tensor([[1]], dtype=torch.int32),
    )
    obj.cond[0] = _memory(0)
    for t in range(max(1, frame_idx - 15), frame_idx + 1):  # as the tracker keeps them: 16 pointers, 7 memories
        obj.non_cond[t] = _memory(t, features=t >= frame_idx - 6)
    obj.mask_logits = torch.randn(1, 1, 64, 64)
    return TrackerState(RefinerSwitches(True, False, True), frame_idx, (240, 320), {7: obj}, torch.randn(1, 64, 16, 16))


def assert_same_state(a: TrackerState, b: TrackerState):
    assert (a.frame_idx, tuple(a.orig_hw), a.switches) == (b.frame_idx, tuple(b.orig_hw), b.switches)
    assert torch.equal(a.maskmem_pos_enc, b.maskmem_pos_enc)
    assert list(a.objects) == list(b.objects)
    for oa, ob in zip(a.objects.values(), b.objects.values()):
        assert oa.start_frame == ob.start_frame
        assert torch.equal(oa.first_coords, ob.first_coords) and torch.equal(oa.mask_logits, ob.mask_logits)
        assert [(k, t) for k, t, _ in oa.frames()] == [(k, t) for k, t, _ in ob.frames()]
        for (_, _, ma), (_, _, mb) in zip(oa.frames(), ob.frames()):
            assert torch.equal(ma.obj_ptr, mb.obj_ptr)
            assert (ma.maskmem_features is None) == (mb.maskmem_features is None)
            if ma.maskmem_features is not None:
                assert mb.maskmem_features.dtype == torch.bfloat16 and torch.equal(
                    ma.maskmem_features, mb.maskmem_features
                )


@pytest.fixture
def redis_store(redis_url, redis_prefix):
    store = RedisStateStore(redis_url, FP, ttl_s=60, lease_s=5, prefix=redis_prefix)
    yield store
    store.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request):
    if request.param == "memory":
        yield InProcessStateStore(FP, ttl_s=60)
    else:  # only this parameter needs a Redis (and with it, redis-server)
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        s = RedisStateStore(url, FP, ttl_s=60, lease_s=5, prefix=prefix)
        yield s
        s.close()


def _keys(redis_url: str, prefix: str) -> list[bytes]:
    with redis.Redis.from_url(redis_url) as client:
        return sorted(client.scan_iter(match=f"{prefix}*"))


def test_round_trip_versions_and_stale_writes(store):
    assert store.load("s1") is None
    state = make_state()
    assert store.save("s1", state, b"jpeg-bytes", None).version == 1
    loaded = store.load("s1")
    assert loaded.version == 1 and loaded.frame == b"jpeg-bytes" and loaded.applied is None
    assert_same_state(loaded.state, state)
    with pytest.raises(StaleStateError):
        store.save("s1", make_state(4), None, None)
    assert store.load("s1").version == 1  # the refused write changed nothing
    applied = AppliedMessage(5, "digest-of-message-5", b'{"reply": 1}')
    assert store.save("s1", make_state(4), None, loaded, applied).version == 2
    second = store.load("s1")
    assert second.applied == applied and second.epoch == loaded.epoch
    assert store.save("s1", make_state(5), None, second).applied == applied  # kept when a save brings none
    assert store.load("s1").applied == applied
    info = store.info("s1")
    assert info.version == 3 and info.bytes > 64 * 16 * 16 * 2 and 0 < info.ttl_s <= 60
    assert store.delete("s1") and store.load("s1") is None and store.info("s1") is None


def test_lease_is_exclusive(store):
    with store.lease("s2"):
        with pytest.raises(SessionBusyError):
            with store.lease("s2"):
                pass
    with store.lease("s2"):  # released
        pass


def test_another_worker_reads_what_one_wrote_and_refuses_another_model(redis_store, redis_url, redis_prefix):
    state = make_state(10)
    redis_store.save("s3", state, None, None)
    other = RedisStateStore(redis_url, FP, ttl_s=60, prefix=redis_prefix)
    loaded = other.load("s3")
    assert_same_state(loaded.state, state)
    # The second worker advances it; the first one's local copy is now stale and is not used.
    other.save("s3", make_state(11), None, loaded)
    assert redis_store.load("s3").state.frame_idx == 11
    with pytest.raises(UnreadableSessionError, match="another model"):
        RedisStateStore(redis_url, "hiera_l/1024/other", ttl_s=60, prefix=redis_prefix).load("s3")


def test_only_reachable_memories_stay_and_every_key_expires(redis_store, redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    key = f"{redis_prefix}:video:s4:state".encode()
    stored = None
    for t in range(3, 40):
        stored = redis_store.save("s4", make_state(t), b"f", stored)
        if t == 20:
            size_20 = redis_store.info("s4").bytes
    # Memories of old frames were deleted; only frame numbers in names vary in width.
    assert abs(redis_store.info("s4").bytes - size_20) <= 64
    fields = client.hkeys(key)
    assert sum(f.startswith(b"mem:") for f in fields) == 1 + 7  # the conditioning frame + the last seven
    with redis_store.lease("s4"):
        keys = _keys(redis_url, redis_prefix)
        assert len(keys) == 2 and all(client.pttl(k) > 0 for k in keys)
    short = RedisStateStore(redis_url, FP, ttl_s=0.5, prefix=redis_prefix)
    short.save("s5", make_state(), None, None)
    wait_until(lambda: short.load("s5") is None, what="the short-lived session to expire")
    redis_store.delete("s4")
    assert _keys(redis_url, redis_prefix) == []


def test_unreachable_redis_is_a_clear_error():
    dead = RedisStateStore("redis://127.0.0.1:1/0", FP, ttl_s=60, prefix="unused", timeout_s=0.2)
    with pytest.raises(StateStoreUnavailable, match="unreachable"):
        dead.load("s6")
    with pytest.raises(StateStoreUnavailable):
        dead.save("s6", make_state(), None, None)


def test_store_errors_are_plain_exceptions_mapped_in_one_place():
    from sam2refiner.service.core.error_handlers import as_service_error
    from sam2refiner.service.core.errors import InternalError, ServiceError

    for exc, status, code in (
        (StateStoreUnavailable("x"), 503, "state_store_unavailable"),
        (SessionBusyError("x"), 409, "session_busy"),
        (StaleStateError("x"), 409, "stale_state"),
        (UnreadableSessionError("x"), 422, "session_unreadable"),
    ):
        assert not isinstance(exc, ServiceError) and not hasattr(exc, "status")
        mapped = as_service_error(exc)
        assert (mapped.status, mapped.code, mapped.message) == (status, code, "x")
        assert mapped.field == ("session" if code == "session_unreadable" else None)
    assert isinstance(as_service_error(KeyError("a bug")), InternalError)


def test_a_session_created_again_under_its_name_is_never_served_from_an_old_copy(store, request):
    """Defect 1: versions restart at 1 for a new session of the same name; the epoch tells them apart."""
    worker_a, worker_b = (
        (store, store)
        if isinstance(store, InProcessStateStore)
        else (
            store,
            RedisStateStore(request.getfixturevalue("redis_url"), FP, ttl_s=60, lease_s=5, prefix=store.prefix),
        )
    )
    old = None
    for t in range(6):  # the old session, advanced to version 6 on worker A
        old = worker_a.save("s7", make_state(10 + t), None, old)
    assert worker_a.load("s7").version == 6
    assert worker_b.delete("s7")  # deleted on worker B (or expired, or Redis restarted) ...
    new = None
    for t in range(6):  # ... and created again there, advanced to version 6 too
        new = worker_b.save("s7", make_state(30 + t), None, new)
    assert (new.version, old.version) == (6, 6) and new.epoch != old.epoch
    seen = worker_a.load("s7")  # worker A again: the new session, not its own copy of the old one
    assert (seen.epoch, seen.state.frame_idx) == (new.epoch, 35)
    with pytest.raises(StaleStateError, match="anew"):  # and A's old copy can never overwrite it
        worker_a.save("s7", make_state(16), None, old)
    assert worker_b.load("s7").state.frame_idx == 35


def test_held_bytes_count_live_sessions_only(store):
    """Defect 10: the state-bytes gauge comes from sessions that have not expired."""
    store.ttl_s = 0.3
    store.save("s8", make_state(), None, None)
    assert store.held_bytes() == make_state().nbytes()
    wait_until(lambda: store.held_bytes() == 0, what="the session to expire and drop out of the held bytes")


@pytest.fixture
@tier("redis")
def own_redis(tmp_path):
    """A redis-server of this test's own (it gets stopped with SIGSTOP), and two workers' stores on it."""
    proc, url = start_redis(tmp_path)
    stores = [RedisStateStore(url, FP, ttl_s=60, lease_s=30, prefix="stall", timeout_s=0.3) for _ in range(2)]
    try:
        yield proc, redis.Redis.from_url(url), stores
    finally:
        for s in stores:
            s.close()
        stop_redis(proc)


def _no_lease_within(client, key: str, seconds: float = 5.0) -> bool:
    wait_until(lambda: not client.exists(key), seconds, f"{key} to be released")
    return True


def test_a_lease_taken_during_a_redis_stall_is_not_left_behind(own_redis):
    """Defect 2: the SET sent during the stall runs when Redis resumes; its worker takes it over or clears it."""
    proc, client, (worker, other) = own_redis
    with worker.lease("s"):  # a session under way (Redis has the lease script cached by then)
        pass
    with frozen(proc):
        with pytest.raises(StateStoreUnavailable):
            with worker.lease("s"):
                pass
    with worker.lease("s"):  # at once, with only this worker: its own late lease is no obstacle
        pass
    assert _no_lease_within(client, "stall:video:s:lease")
    with other.lease("s"):  # nor for another worker, well before the 30 s lease would have run out
        pass


def test_a_release_that_fails_is_logged_and_retried(own_redis, caplog):
    proc, client, (worker, other) = own_redis
    with caplog.at_level(logging.WARNING, logger="sam2refiner.service.video.store"):
        with worker.lease("s2"):
            os.kill(proc.pid, signal.SIGSTOP)  # Redis stalls while the lease is held ...
        os.kill(proc.pid, signal.SIGCONT)  # ... and answers again after the release timed out
    assert "releasing its lease failed" in caplog.text
    assert _no_lease_within(client, "stall:video:s2:lease")  # released once Redis answers again
    with other.lease("s2"):
        pass


@pytest.mark.parametrize(
    "damage",
    ["ver_not_a_number", "seq_not_a_number", "meta_missing", "meta_garbage", "state_key_a_string", "lease_a_hash"],
)
def test_a_damaged_field_or_key_is_unreadable_and_the_session_can_be_deleted(redis_store, redis_url, damage):
    """N5: every damaged stored field (not only the blobs) is ``UnreadableSessionError`` (answered
    ``session_unreadable``: delete the session), never a ValueError or a Redis ResponseError (answered
    ``internal``); deleting it works whatever is stored."""
    redis_store.save("s9", make_state(), b"frame", None, AppliedMessage(4, "d", b"{}"))
    state_key, lease_key = (redis_store._key("s9", part) for part in ("state", "lease"))
    with redis.Redis.from_url(redis_url) as client:
        if damage == "state_key_a_string":
            client.delete(state_key)
            client.set(state_key, "not a hash")
        elif damage == "lease_a_hash":
            client.hset(lease_key, "worker", "x")
        elif damage == "meta_missing":
            client.hdel(state_key, "meta")
        else:
            field, value = {"ver_not_a_number": ("ver", "x"), "seq_not_a_number": ("seq", "5.5")}.get(
                damage, ("meta", b"\x00garbage")
            )
            client.hset(state_key, field, value)
    fresh = RedisStateStore(redis_url, FP, ttl_s=60, lease_s=5, prefix=redis_store.prefix)  # no local copy
    try:
        with pytest.raises(UnreadableSessionError, match="delete the session"):
            if damage == "lease_a_hash":
                with fresh.lease("s9"):
                    pass
            else:
                fresh.load("s9")
        if damage in ("ver_not_a_number", "state_key_a_string"):
            with pytest.raises(UnreadableSessionError):
                fresh.info("s9")
            with pytest.raises(UnreadableSessionError):
                fresh.save("s9", make_state(), None, None)
        assert fresh.delete("s9") and fresh.load("s9") is None
        with fresh.lease("s9"):
            pass
    finally:
        fresh.close()
