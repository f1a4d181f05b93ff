"""Giving freed memory back to the system after a burst of traffic.

A flood leaves the C heap holding the space of every message it carried: glibc keeps freed
chunks for reuse and returns only the free top of the heap, so one live object allocated
late in the burst pins all the space below it.  ``malloc_trim(0)`` hands every free page
back (``madvise``), wherever it lies.  Python's own small-object arenas are not touched.

Invariants:
- only the process root (``sipguard serve``) runs the task; library code never calls it;
- trimming frees nothing that is in use; where the C library has no ``malloc_trim`` (not
  glibc) the task does nothing, and ``trim`` says so by returning False;
- the task wakes on the event loop every ``period`` seconds and trims in a worker thread:
  a trim walks the whole heap (about 10 ms after a 100 MB burst), and ctypes lets the GIL
  go for it, so the loop goes on serving while it runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

PERIOD = 10.0  # seconds between trims


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


async def trim_every(period: float = PERIOD) -> None:
    """Trim the heap every ``period`` seconds until cancelled."""
    if _TRIM is None:
        return
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(period)
        await loop.run_in_executor(None, trim)
