"""The video state stores: round trips without pickle, versions, leases, TTLs, and Redis failures."""

from __future__ import annotations

import time

import pytest
import redis
import torch

from model.config import RefinerSwitches
from model.video.codec import StateFormatError
from model.video.state import FrameMemory, ObjectTrack, TrackerState
from service.state_store import (
    InProcessStateStore, RedisStateStore, SessionBusyError, StaleStateError, StateStoreUnavailable,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
FP = "hiera_t/256/test"


def _memory(seed: int, features: bool = True) -> FrameMemory:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(1, 64, 16, 16, generator=g).to(torch.bfloat16) if features else None
    return FrameMemory(torch.randn(1, 256, generator=g), torch.randn(1, 1, generator=g), feats)


def make_state(frame_idx: int = 3) -> TrackerState:
    obj = ObjectTrack(7, start_frame=0, first_coords=torch.tensor([[[10.0, 20.0]]]), first_labels=torch.tensor([[1]], dtype=torch.int32))
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
                assert mb.maskmem_features.dtype == torch.bfloat16 and torch.equal(ma.maskmem_features, mb.maskmem_features)


@pytest.fixture
def redis_store(redis_prefix):
    store = RedisStateStore(REDIS_URL, FP, ttl_s=60, lease_s=5, prefix=redis_prefix)
    yield store
    store.close()


@pytest.fixture(params=["memory", "redis"])
def store(request, redis_prefix):
    if request.param == "memory":
        yield InProcessStateStore(FP, ttl_s=60)
    else:
        s = RedisStateStore(REDIS_URL, FP, ttl_s=60, lease_s=5, prefix=redis_prefix)
        yield s
        s.close()


def _keys(prefix: str) -> list[bytes]:
    return sorted(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{prefix}*"))


def test_round_trip_versions_and_stale_writes(store):
    assert store.load("s1") is None
    state = make_state()
    assert store.save("s1", state, b"jpeg-bytes", expected_version=0) == 1
    loaded = store.load("s1")
    assert loaded.version == 1 and loaded.frame == b"jpeg-bytes"
    assert_same_state(loaded.state, state)
    with pytest.raises(StaleStateError):
        store.save("s1", make_state(4), None, expected_version=0)
    assert store.load("s1").version == 1  # the refused write changed nothing
    assert store.save("s1", make_state(4), None, expected_version=1) == 2
    info = store.info("s1")
    assert info.version == 2 and info.bytes > 64 * 16 * 16 * 2 and 0 < info.ttl_s <= 60
    assert store.delete("s1") and store.load("s1") is None and store.info("s1") is None


def test_lease_is_exclusive(store):
    with store.lease("s2"):
        with pytest.raises(SessionBusyError):
            with store.lease("s2"):
                pass
    with store.lease("s2"):  # released
        pass


def test_another_worker_reads_what_one_wrote_and_refuses_another_model(redis_store, redis_prefix):
    state = make_state(10)
    redis_store.save("s3", state, None, 0)
    other = RedisStateStore(REDIS_URL, FP, ttl_s=60, prefix=redis_prefix)
    assert_same_state(other.load("s3").state, state)
    # The second worker advances it; the first one's local copy is now stale and is not used.
    other.save("s3", make_state(11), None, 1)
    assert redis_store.load("s3").state.frame_idx == 11
    with pytest.raises(StateFormatError, match="another model"):
        RedisStateStore(REDIS_URL, "hiera_l/1024/other", ttl_s=60, prefix=redis_prefix).load("s3")


def test_only_reachable_memories_stay_and_every_key_expires(redis_store, redis_prefix):
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{redis_prefix}:video:s4:state".encode()
    for t in range(3, 40):
        redis_store.save("s4", make_state(t), b"f", t - 3)
        if t == 20:
            size_20 = redis_store.info("s4").bytes
    # Memories of old frames were deleted; only frame numbers in names vary in width.
    assert abs(redis_store.info("s4").bytes - size_20) <= 64
    fields = client.hkeys(key)
    assert sum(f.startswith(b"mem:") for f in fields) == 1 + 7  # the conditioning frame + the last seven
    with redis_store.lease("s4"):
        keys = _keys(redis_prefix)
        assert len(keys) == 2 and all(client.pttl(k) > 0 for k in keys)
    short = RedisStateStore(REDIS_URL, FP, ttl_s=0.5, prefix=redis_prefix)
    short.save("s5", make_state(), None, 0)
    time.sleep(0.8)
    assert short.load("s5") is None
    redis_store.delete("s4")
    assert _keys(redis_prefix) == []


def test_unreachable_redis_is_a_clear_error():
    dead = RedisStateStore("redis://127.0.0.1:1/0", FP, ttl_s=60, prefix="unused", timeout_s=0.2)
    with pytest.raises(StateStoreUnavailable, match="unreachable"):
        dead.load("s6")
    with pytest.raises(StateStoreUnavailable):
        dead.save("s6", make_state(), None, 0)
    assert StateStoreUnavailable.status == 503
