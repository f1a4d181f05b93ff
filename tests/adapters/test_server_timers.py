"""The shell's keyed timer heap: replacement, cancellation, order and a single loop handle."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


def run_heap(script: list[tuple[str, Hashable, float]], wait: float) -> list[Hashable]:
    """Apply (op, key, delay) steps to a fresh heap, wait, and return the keys fired."""
    from sipguard.adapters.server.timers import TimerHeap

    fired: list[Hashable] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        heap = TimerHeap(loop, fired.append)
        now = loop.time()
        for op, key, delay in script:
            if op == "start":
                heap.start(key, now + delay)
            else:
                heap.cancel(key)
        await asyncio.sleep(wait)
        heap.close()

    asyncio.run(main())
    return fired


def test_timers_fire_in_deadline_order() -> None:
    """Keys fire once each, earliest deadline first, whatever the order they were armed in."""
    fired = run_heap([("start", "b", 0.06), ("start", "a", 0.02), ("start", "c", 0.1)], 0.2)
    assert fired == ["a", "b", "c"]


def test_restarting_a_key_replaces_its_deadline() -> None:
    """Starting a live key again moves it; it fires once, at the new time."""
    fired = run_heap([("start", "a", 0.02), ("start", "b", 0.05), ("start", "a", 0.08)], 0.15)
    assert fired == ["b", "a"]


def test_cancelled_and_unknown_keys() -> None:
    """A cancelled key never fires, and cancelling an unknown key is harmless."""
    fired = run_heap([("start", "a", 0.02), ("cancel", "a", 0), ("cancel", "zz", 0)], 0.08)
    assert fired == []


def test_timer_armed_from_a_firing_timer_keeps_earlier_ones() -> None:
    """A timer started inside a callback does not delay an earlier timer already armed."""
    from sipguard.adapters.server.timers import TimerHeap

    fired: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        heap: TimerHeap

        def fire(key: Hashable) -> None:
            fired.append((str(key), loop.time() - start))
            if key == "first":
                heap.start("late", loop.time() + 0.5)

        heap = TimerHeap(loop, fire)
        heap.start("first", start + 0.01)
        heap.start("second", start + 0.06)
        await asyncio.sleep(0.15)
        assert len(heap) == 1
        heap.close()

    asyncio.run(main())
    assert [name for name, _ in fired] == ["first", "second"]
    assert fired[1][1] < 0.12


def test_many_cancellations_are_compacted() -> None:
    """Lazily deleted entries are compacted away so the heap does not grow without bound."""
    from sipguard.adapters.server.timers import TimerHeap

    async def main() -> int:
        loop = asyncio.get_running_loop()
        heap = TimerHeap(loop, lambda key: None)
        now = loop.time()
        for i in range(20000):
            heap.start(i, now + 0.01 + (i % 7) * 0.001)
            heap.cancel(i)
        heap.start("last", now + 0.02)
        await asyncio.sleep(0.05)
        size = len(heap._heap)
        heap.close()
        return size

    assert asyncio.run(main()) == 0


def test_typed_keys_replace_and_cancel_by_value() -> None:
    """The core's timer keys are values: an equal key built anew replaces or cancels the timer."""
    from sipguard.b2bua.effects import CallTimer, CallTimerKind, TxTimer
    from sipguard.sip.timers import Timer

    ring, tx = CallTimer(1, CallTimerKind.RING), TxTimer(7, Timer.G)
    script: list[tuple[str, Hashable, float]] = [
        ("start", ring, 0.02),
        ("start", tx, 0.03),
        ("start", CallTimer(1, CallTimerKind.RING), 0.06),
        ("cancel", TxTimer(7, Timer.G), 0),
    ]
    assert run_heap(script, 0.12) == [ring]
