import numpy as np

from sam2refiner.service.image.cache import ByteLRU


def test_evicts_least_recently_used_to_stay_within_bytes():
    cache = ByteLRU("test_lru", 300, lambda v: v.nbytes)
    for key in "abc":
        assert cache.put(key, np.zeros(100, np.uint8))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", np.zeros(100, np.uint8))
    assert cache.keys() == ["c", "a", "d"] and cache.nbytes == 300
    assert cache.get("b") is None


def test_entry_larger_than_the_bound_is_not_kept():
    cache = ByteLRU("test_lru_big", 50, lambda v: v.nbytes)
    cache.put("small", np.zeros(10, np.uint8))
    assert not cache.put("big", np.zeros(51, np.uint8))
    assert cache.keys() == ["small"]


def test_replacing_a_key_counts_its_bytes_once():
    cache = ByteLRU("test_lru_replace", 100, lambda v: v.nbytes)
    cache.put("a", np.zeros(60, np.uint8))
    cache.put("a", np.zeros(40, np.uint8))
    assert cache.nbytes == 40 and len(cache) == 1
