"""Large tables built and freed in short steps, so no single C call holds the GIL for long.

A hot reload builds the new rules in a worker thread while the event loop keeps answering
calls.  The interpreter hands the GIL between threads only between bytecodes, so one C call
over 10^6 items (sorting the filed numbers, freeing a million-entry dict) stops the loop for
its whole length.  These helpers do the same work as a loop of small C calls.

Invariants:
- ``sorted_in_steps(keys)`` equals ``sorted(keys)``.  Each C call it makes sorts at most
  about ``STEP`` items, unless the input is arranged against the stride sample of pivots
  it splits on (then one bucket is larger, and the result is still exact).
- ``empty_in_steps`` leaves its dict and list empty, removing at most ``STEP`` items per C
  call (a dict item at a time), so freeing what they held is spread over many steps.  It
  is only for containers no one else can reach any more.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise
from typing import TypeVar

#: Items handled by one C call: about a millisecond of work.
STEP = 4096

K = TypeVar("K")
V = TypeVar("V")


def sorted_in_steps(keys: list[str]) -> list[str]:
    """``sorted(keys)``, as short sorts of runs (in order already) or of pivot buckets."""
    if len(keys) <= STEP:
        return sorted(keys)
    runs = [sorted(keys[at : at + STEP]) for at in range(0, len(keys), STEP)]
    if all(left[-1] <= right[0] for left, right in pairwise(runs)):
        return _joined(runs)  # an export written in order: no bucket pass needed
    pivots = sorted(keys[::STEP])
    buckets: list[list[str]] = [[] for _ in range(len(pivots) + 1)]
    for key in keys:
        buckets[bisect_right(pivots, key)].append(key)
    for bucket in buckets:
        bucket.sort()
    return _joined(buckets)


def _joined(parts: list[list[str]]) -> list[str]:
    out: list[str] = []
    for part in parts:
        out.extend(part)
    return out


def empty_in_steps(table: dict[K, V], ordered: list[K]) -> None:
    """Empty ``table`` one item at a time and ``ordered`` ``STEP`` items at a time."""
    pop = table.popitem
    while table:
        pop()
    while ordered:
        del ordered[-STEP:]
