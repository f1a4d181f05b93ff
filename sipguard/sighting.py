"""Admission on a second sighting, for the core's memos: keys that never repeat leave
nothing behind them.

Peers repeat themselves (the same header names in the same order, the same caller
headers call after call), so a memo pays off for what comes back; a flood of keys that
never repeat (fuzzed or invented) must not fill it.  A key is admitted the second time it
is offered.

The hashes are held unboxed in one fixed array of machine words (open addressing, linear
probing), never as Python ints in a set: a set's ints are objects allocated while the
traffic flows, and the few a flood leaves behind each pin a pool of the small-object
allocator, and with it the arena around it, long after the flood is over.

Invariants:
- ``again(key)`` is True when ``key`` was offered once before and not admitted since (it
  is then forgotten), False otherwise (its hash is then remembered);
- at most ``limit`` hashes are held; when full, or when forgotten slots fill half the
  table, the table is emptied at once;
- nothing is allocated per key that outlives the call: the table is one array, allocated
  when the object is made and when it is emptied;
- a hash collision can admit a key on its first sighting: that costs one memo entry, never
  a wrong answer, since the memo stores what the key computes;
- no I/O, no clock, no logging (``sipguard.sip`` and ``sipguard.policy`` both use it).
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable

_EMPTY, _GONE = 0, 1  # slot values that are no hash: a free slot, a forgotten one


class SecondSighting:
    """The hashes of keys offered once (see the module invariants)."""

    __slots__ = ("_held", "_mask", "_slots", "_used", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._mask = (1 << max(3, (4 * limit - 1).bit_length())) - 1  # 4x limit, or more
        self._slots, self._held, self._used = self._blank(), 0, 0

    def __len__(self) -> int:
        return self._held

    def _blank(self) -> array[int]:
        return array("q", bytes(8 * (self._mask + 1)))

    def again(self, key: Hashable) -> bool:
        """True if ``key`` was offered once before; else remember it and return False."""
        mark = hash(key)
        if mark in (_EMPTY, _GONE):
            mark += 2
        slots, mask = self._slots, self._mask
        at, free = mark & mask, -1
        while (value := slots[at]) != _EMPTY:
            if value == mark:
                slots[at] = _GONE
                self._held -= 1
                return True
            if value == _GONE and free < 0:
                free = at
            at = (at + 1) & mask
        if self._held >= self.limit or self._used >= (mask + 1) // 2:
            self._slots, self._held, self._used = self._blank(), 0, 0
            return self.again(key)
        if free < 0:
            free, self._used = at, self._used + 1
        slots[free] = mark
        self._held += 1
        return False
