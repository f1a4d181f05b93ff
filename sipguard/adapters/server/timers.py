"""Keyed timers for the asyncio shell: one heap and a single loop handle.

The core asks for timers by key (``StartTimer(key, at)``, ``CancelTimer(key)``; the heap
takes any hashable key type ``K``, the server uses ``TimerKey``).  Instead of one
``loop.call_at`` handle per timer, every deadline lives in a heap and the loop holds a single
handle armed for the earliest one.

Invariants:
- Starting a timer whose key is live replaces it; cancelling an unknown key is a no-op.
- Replaced and cancelled entries stay in the heap until they surface and are skipped
  (lazy deletion); the live deadline of a key is the one in ``_live``.
- ``fire`` is called with each due key exactly once, in deadline order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class TimerHeap(Generic[K]):
    """Keyed deadlines on the loop's monotonic clock, fired through ``fire(key)``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[K], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, int] = {}
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None

    def __len__(self) -> int:
        return len(self._live)

    def start(self, key: K, at: float) -> None:
        """Arm (or re-arm) ``key`` to fire at monotonic time ``at``."""
        seq = next(self._seq)
        self._live[key] = seq
        heapq.heappush(self._heap, (at, seq, key))
        if self._armed_at is None or at < self._armed_at:
            self._arm(at)

    def cancel(self, key: K) -> None:
        """Forget ``key``; a no-op when it is not armed."""
        self._live.pop(key, None)

    def close(self) -> None:
        """Drop every timer and the loop handle."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_at = None
        self._heap.clear()
        self._live.clear()

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = at
        self._handle = self._loop.call_at(at, self._run)

    def _run(self) -> None:
        self._handle = None
        self._armed_at = None
        now = self._loop.time()
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
        head = self._heap[0][0] if self._heap else None
        if head is not None and (self._armed_at is None or head < self._armed_at):
            self._arm(head)

    def _compact(self) -> None:
        live = self._live
        self._heap = [entry for entry in self._heap if live.get(entry[2]) == entry[1]]
        heapq.heapify(self._heap)

    def _drop_stale_head(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
