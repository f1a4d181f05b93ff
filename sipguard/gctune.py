"""Garbage-collector settings for a long-running process that handles calls.

CPython's default thresholds (700, 10, 10) start a young-generation pass every 700 new
container objects.  A SIP message makes dozens (headers, parsed values, effects), so at a
few hundred calls a second the collector runs thousands of times a second, and every
older-generation pass walks the live calls and transactions again.  Measured with
``bench/bench_b2bua.py``, that was about 40% of the call core's time.

Invariants:
- Only process roots call this (``sipguard serve`` and the Kamailio plugin's ``mod_init``),
  never library code, and never while another thread may be loading rules.
- Cyclic garbage is still collected, only in larger batches: memory stays bounded.
- ``gc.freeze`` moves what exists now (the loaded rules) out of every later collection.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # new container objects between young-generation passes
MIDDLE = 20  # young passes per middle-generation pass
OLD = 10  # middle passes per full pass (CPython also waits for 25% new long-lived objects)


def tune_for_serving() -> None:
    """Fewer, larger collections, and the objects alive now frozen out of them."""
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
