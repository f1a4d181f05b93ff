"""Giving freed memory back to the system after a burst of traffic.

A flood leaves the allocator holding the space of every message and call it carried: freed
memory is kept for reuse, and only pages with nothing live on them can go back.  The task
here hands those back once a burst is over (``sipguard.allocator``: jemalloc purges its
unused pages, glibc's ``malloc_trim(0)`` its free heap pages; CPython's own small-object
arenas, when serve runs on them, are not touched).

Invariants:
- only the process root (``sipguard serve``) runs the task; library code never calls it;
- giving back frees nothing that is in use; where the allocator cannot give back (neither
  jemalloc nor glibc) the task only sweeps and collects;
- the task wakes on the event loop every ``period`` seconds, sweeps the call core's memos
  there (``sipguard.memo``: what a flood made them keep must not outlive it, or its objects
  pin the memory it filled), runs one full collection after a burst has drained
  (``AfterBurst``), empties the loop thread's allocation cache (what it holds keeps pages
  in use, and it fills with what the last traffic freed), and gives memory back in a worker
  thread: that walks the whole heap (about 10 ms after a 100 MB burst),
  and ctypes lets the GIL go for it, so the loop goes on serving while it runs.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import dataclass

from sipguard.allocator import flush_thread_cache, release

PERIOD = 10.0  # seconds between givings back
BURST = 1_000  # live transactions, records and calls that make a burst


@dataclass
class AfterBurst:
    """When a full collection is due: once a burst of live state has drained.

    ``live`` is what the call core holds (transactions, records, calls).  The collector's
    oldest generation runs only after a quarter more long-lived objects (``gctune``), so
    the cycles a burst left in it would stay until the next burst; collecting once the
    burst is over, at a time of little traffic, frees them.
    """

    floor: int = BURST  # a burst is at least this much live state
    highest: int = 0  # the most seen since the last collection

    def due(self, live: int) -> bool:
        """Observe ``live``; True when it fell to an eighth of the most seen since the last
        collection and that was a burst (so a large one drains in a collection or two)."""
        self.highest = max(self.highest, live)
        if self.highest >= self.floor and live * 8 <= self.highest:
            self.highest = live
            return True
        return False


async def trim_every(
    sweep: Callable[[], None], live: Callable[[], int], period: float = PERIOD
) -> None:
    """Every ``period`` seconds until cancelled: ``sweep`` the memos, collect after a
    burst (``AfterBurst`` on ``live()``), flush the loop thread's allocation cache, then
    give unused memory back."""
    loop = asyncio.get_running_loop()
    burst = AfterBurst()
    while True:
        await asyncio.sleep(period)
        sweep()
        if burst.due(live()):
            gc.collect()
        flush_thread_cache()
        await loop.run_in_executor(None, release)
