"""Keyed timers for the asyncio shell: a heap for what is near, buckets for what is far.

The core asks for timers by key (``StartTimer(key, at)``, ``CancelTimer(key)``; the heap
takes any hashable key type ``K``, the server uses ``TimerKey``).  Instead of one
``loop.call_at`` handle per timer, every deadline lives here and the loop holds a single
handle armed for the earliest one.

Most of the core's long timers never fire: Timer B or F (32 s) is cancelled by the first
response, a call's maximum duration (hours) by its end.  In a heap a cancelled entry can only
be skipped when it surfaces, so each would stay for its whole span, with its key; a timer
due more than ``FAR`` seconds ahead therefore waits in a bucket of its second instead, where
cancelling it removes it at once, and the bucket moves into the heap when its second begins.

Invariants:
- Starting a timer whose key is live replaces it; cancelling an unknown key is a no-op.
- A live key is in exactly one place: the heap (``_live`` holds its entry's sequence number)
  or the bucket of its second (``_far_at`` holds that second).
- Replaced and cancelled heap entries stay in the heap until they surface and are skipped
  (lazy deletion), or until a compaction; they are at most ``FAR`` plus a second old.
- ``fire`` is called with each due key exactly once, in deadline order, never early.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
FAR = 2.0  # seconds ahead past which a deadline waits in a bucket, not in the heap


class TimerHeap(Generic[K]):
    """Keyed deadlines on the loop's monotonic clock, fired through ``fire(key)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[K], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, int] = {}
        self._far: dict[int, dict[K, float]] = {}  # second -> key -> deadline
        self._far_at: dict[K, int] = {}
        self._seconds: list[int] = []  # the buckets' seconds, a heap (stale ones skipped)
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None

    def __len__(self) -> int:
        return len(self._live) + len(self._far_at)

    def tables(self) -> tuple[dict[Any, Any], ...]:
        """The dicts whose space a flood may leave (``sipguard.memo.shrink``)."""
        return (self._live, self._far_at, self._far)

    def start(self, key: K, at: float) -> None:
        """Arm (or re-arm) ``key`` to fire at monotonic time ``at``."""
        if key in self._far_at:
            self._unbucket(key)
        if at - self._loop.time() > FAR:
            self._live.pop(key, None)
            self._bucket(key, at)
            return
        seq = next(self._seq)
        self._live[key] = seq
        heapq.heappush(self._heap, (at, seq, key))
        if self._armed_at is None or at < self._armed_at:
            self._arm(at)

    def cancel(self, key: K) -> None:
        """Forget ``key``; a no-op when it is not armed."""
        if self._live.pop(key, None) is None and key in self._far_at:
            self._unbucket(key)

    def close(self) -> None:
        """Drop every timer and the loop handle."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_at = None
        self._heap.clear()
        self._live.clear()
        self._far.clear()
        self._far_at.clear()
        self._seconds.clear()

    def _bucket(self, key: K, at: float) -> None:
        second = math.floor(at)
        bucket = self._far.get(second)
        if bucket is None:
            bucket = self._far[second] = {}
            heapq.heappush(self._seconds, second)
            if self._armed_at is None or second < self._armed_at:
                self._arm(float(second))
        bucket[key] = at
        self._far_at[key] = second

    def _unbucket(self, key: K) -> None:
        second = self._far_at.pop(key)
        bucket = self._far[second]
        del bucket[key]
        if not bucket:
            del self._far[second]

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = at
        self._handle = self._loop.call_at(at, self._run)

    def _run(self) -> None:
        self._handle = None
        self._armed_at = None
        now = self._loop.time()
        self._take_buckets(now)
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            if self._live.get(key) != seq:
                continue
            del self._live[key]
            self._fire(key)
        self._drop_stale_head()
        if len(heap) > 2 * len(self._live) + 4096:
            self._compact()
        self._rearm()

    def _take_buckets(self, now: float) -> None:
        """Move every bucket whose second has begun into the heap."""
        seconds = self._seconds
        while seconds and seconds[0] <= now:
            bucket = self._far.pop(heapq.heappop(seconds), None)
            for key, at in (bucket or {}).items():
                del self._far_at[key]
                seq = next(self._seq)
                self._live[key] = seq
                heapq.heappush(self._heap, (at, seq, key))

    def _rearm(self) -> None:
        while self._seconds and self._seconds[0] not in self._far:
            heapq.heappop(self._seconds)
        heads = [self._heap[0][0]] if self._heap else []
        if self._seconds:
            heads.append(float(self._seconds[0]))
        if heads and (self._armed_at is None or min(heads) < self._armed_at):
            self._arm(min(heads))

    def _compact(self) -> None:
        live = self._live
        self._heap = [entry for entry in self._heap if live.get(entry[2]) == entry[1]]
        heapq.heapify(self._heap)

    def _drop_stale_head(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
