"""Giving freed memory back to the system after a burst of traffic.

A flood leaves the C heap holding the space of every message it carried: glibc keeps freed
chunks for reuse and returns only the free top of the heap, so one live object allocated
late in the burst pins all the space below it.  ``malloc_trim(0)`` hands every free page
back (``madvise``), wherever it lies.  Python's own small-object arenas are not touched.

Invariants:
- only the process root (``sipguard serve``) runs the task; library code never calls it;
- trimming frees nothing that is in use; where the C library has no ``malloc_trim`` (not
  glibc) the task only sweeps and collects, and ``trim`` says so by returning False;
- the task wakes on the event loop every ``period`` seconds, sweeps the call core's memos
  there (``sipguard.memo``: what a flood made them keep must not outlive it, or its objects
  pin the arenas it filled), runs one full collection after a burst has drained
  (``AfterBurst``), and trims in a worker thread:
  a trim walks the whole heap (about 10 ms after a 100 MB burst), and ctypes lets the GIL
  go for it, so the loop goes on serving while it runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from dataclasses import dataclass

PERIOD = 10.0  # seconds between trims
BURST = 1_000  # live transactions, records and calls that make a burst


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        func = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_size_t]
    func.restype = ctypes.c_int
    trim_fn: Callable[[int], int] = func
    return trim_fn


_TRIM = _malloc_trim()


def trim() -> bool:
    """Return free heap pages to the system now; False when the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


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
    burst (``AfterBurst`` on ``live()``), then trim the heap."""
    loop = asyncio.get_running_loop()
    burst = AfterBurst()
    while True:
        await asyncio.sleep(period)
        sweep()
        if burst.due(live()):
            gc.collect()
        if _TRIM is not None:
            await loop.run_in_executor(None, trim)
