"""A thread-safe LRU bounded in bytes (image features, low-res logits)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from ..core import metrics

V = TypeVar("V")


class ByteLRU(Generic[V]):
    """Keeps the most recently used entries whose sizes sum to at most ``max_bytes``.

    ``sizeof`` gives an entry's size. An entry larger than the whole bound is not kept (``put`` returns False).
    Hits, misses, evictions and the bytes held are reported under ``sam2refiner_cache_*{cache=name}``.
    """

    def __init__(self, name: str, max_bytes: int, sizeof: Callable[[V], int]):
        self.name, self.max_bytes, self._sizeof = name, max_bytes, sizeof
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._report()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                metrics.CACHE_MISSES.labels(self.name).inc()
                return None
            self._items.move_to_end(key)
        metrics.CACHE_HITS.labels(self.name).inc()
        return item[0]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: Hashable, value: V) -> bool:
        size = self._sizeof(value)
        if size > self.max_bytes:
            return False
        evicted = 0
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
                evicted += 1
        if evicted:
            metrics.CACHE_EVICTIONS.labels(self.name).inc(evicted)
        self._report()
        return True

    def _report(self) -> None:
        metrics.CACHE_BYTES.labels(self.name).set(self._bytes)
        metrics.CACHE_ENTRIES.labels(self.name).set(len(self._items))

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list:
        with self._lock:
            return list(self._items)
