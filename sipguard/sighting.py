"""Admission on a second sighting, for the core's memos: keys that never repeat leave
nothing behind them.

Peers repeat themselves (the same header names in the same order, the same caller
headers call after call), so a memo pays off for what comes back; a flood of keys that
never repeat (fuzzed or invented) must not fill it.  A key is admitted the second time it
is offered.

Invariants:
- ``again(key)`` is True when ``key`` was offered once before and not admitted since (it
  is then forgotten), False otherwise (its hash is then remembered);
- at most ``limit`` hashes are held, as ints (never the keys themselves, so nothing of a
  flood's messages is kept alive); when full the set is emptied at once;
- a hash collision can admit a key on its first sighting: that costs one memo entry, never
  a wrong answer, since the memo stores what the key computes;
- no I/O, no clock, no logging (``sipguard.sip`` and ``sipguard.policy`` both use it).
"""

from __future__ import annotations

from collections.abc import Hashable


class SecondSighting:
    """The hashes of keys offered once (see the module invariants)."""

    __slots__ = ("_seen", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[int] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def again(self, key: Hashable) -> bool:
        """True if ``key`` was offered once before; else remember it and return False."""
        seen = hash(key)
        if seen in self._seen:
            self._seen.discard(seen)
            return True
        if len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen.add(seen)
        return False
