"""A bounded memo that keeps only what is in use, for the core's hot-path memos.

A memo entry made during a flood outlives the flood, and each such object pins the pool of
the small-object allocator it was put in, and with it the 1 MiB arena around it, so the
memory the flood took is never given back.  This memo forgets what nobody looks up: every
``sweep()`` starts a new generation, and an entry of the generation before survives only by
being looked up again before the next sweep.  Entries made before the flood and used
throughout it keep their place (their objects never move); what only the flood used is
gone after two sweeps.

The memo reads no clock: whoever owns the process calls ``sweep`` on its own schedule (the
server does, every few seconds; see ``sipguard.adapters.server.memory``).

Invariants:
- ``get(key)`` returns what was ``put`` for ``key`` in this generation or the one before,
  else None; a hit in the generation before takes the entry out of it, into this one if
  this one has room (else the entry is answered this once and dropped);
- each generation holds at most ``limit`` entries: a ``put`` past that is not kept, so the
  memo never holds more than ``2 * limit``;
- ``sweep()`` drops the generation before and starts an empty one;
- the memo stores values as given (callers must not mutate what they put or get);
- ``shrink(*tables)`` rebuilds in place (same object, same entries, same order) each dict
  whose space is more than four times what its entries need: a dict never gives back the
  space of its largest size by itself, so a table a flood filled would keep it, empty;
- no I/O, no clock, no logging (``sipguard.sip`` and ``sipguard.b2bua`` both use it).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class UsedMemo(Generic[K, V]):
    """Two generations of memoised values (see the module invariants)."""

    __slots__ = ("before", "limit", "now")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.now: dict[K, V] = {}
        self.before: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self.now) + len(self.before)

    def __contains__(self, key: K) -> bool:
        return key in self.now or key in self.before

    def get(self, key: K) -> V | None:
        """The value memoised for ``key``, or None."""
        found = self.now.get(key)
        if found is None and self.before:
            found = self.before.pop(key, None)
            if found is not None and len(self.now) < self.limit:
                self.now[key] = found
        return found

    def put(self, key: K, value: V) -> bool:
        """Memoise ``value`` for ``key`` unless this generation is full; True if kept."""
        if len(self.now) >= self.limit:
            return False
        self.now[key] = value
        return True

    def full(self) -> bool:
        """True when this generation takes no more entries."""
        return len(self.now) >= self.limit

    def sweep(self) -> None:
        """Forget what was not looked up since the sweep before this one."""
        self.before = self.now
        self.now = {}

    def clear(self) -> None:
        """Forget everything."""
        self.now, self.before = {}, {}


_SMALL = 16_384  # octets: a dict this size is never worth rebuilding
_PER_ENTRY = 64  # octets an entry needs, index and hash included, with room to grow


def shrink(*tables: dict[Any, Any]) -> int:
    """Rebuild each of ``tables`` that holds over four times the space its entries need;
    how many were rebuilt.  Constant time for a table left as it is."""
    rebuilt = 0
    for table in tables:
        size = sys.getsizeof(table)
        if size > _SMALL and size > 4 * _PER_ENTRY * (len(table) + 16):
            entries = table.copy()
            table.clear()
            table.update(entries)
            rebuilt += 1
    return rebuilt
