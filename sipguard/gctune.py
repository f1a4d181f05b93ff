"""Garbage-collector settings for a long-running process that handles calls.

CPython's default thresholds (700, 10, 10) start a young-generation pass every 700 new
container objects.  A SIP message makes dozens (headers, parsed values, effects), so at a
few hundred calls a second the collector runs hundreds of times a second, and every
older-generation pass walks whatever the process holds.

A pass is a pause: it walks every object of the generations it collects, and the loop
answers nothing meanwhile.  What the call core keeps between messages is small (settled
transactions are atomic tuples the collector stops tracking, ``b2bua/settled.py``; timers
that are cancelled leave nothing behind, ``adapters/server/timers.py``), so a young pass
over ``YOUNG`` objects costs about a millisecond, and a middle pass not much more.  Larger
thresholds make the passes rarer but longer: at 50,000 each young pass took 15 to 25 ms,
which set the post-dial delay's p99 at 400 calls a second.

Invariants:
- Only process roots call this (``sipguard serve`` and the Kamailio plugin's ``mod_init``),
  never library code, and never while another thread may be loading rules.
- Cyclic garbage is still collected, only in larger batches: memory stays bounded.
- ``gc.freeze`` moves what exists now (the loaded rules) out of every later collection.
"""

from __future__ import annotations

import gc

YOUNG = 5_000  # new container objects between young-generation passes
MIDDLE = 20  # young passes per middle-generation pass
OLD = 10  # middle passes per full pass (CPython also waits for 25% new long-lived objects)


def tune_for_serving() -> None:
    """Fewer, larger collections, and the objects alive now frozen out of them."""
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
