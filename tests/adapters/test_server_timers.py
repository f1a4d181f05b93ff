"""The shell's keyed timer heap: replacement, cancellation, order and a single loop handle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

from sipguard.adapters.server.timers import TimerHeap


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


class FakeLoop:
    """The two loop methods the heap uses, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.handles: list[FakeHandle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, at: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle(at, callback)
        self.handles.append(handle)
        return handle

    def advance(self, to: float) -> None:
        """Run the armed callbacks due by ``to``, in time order, the clock at each."""
        while True:
            due = [h for h in self.handles if not h.cancelled and h.at <= to]
            if not due:
                break
            handle = min(due, key=lambda h: h.at)
            self.handles.remove(handle)
            self.now = max(self.now, handle.at)
            handle.callback()
        self.now = to


class FakeHandle:
    def __init__(self, at: float, callback: Callable[[], None]) -> None:
        self.at, self.callback, self.cancelled = at, callback, False

    def cancel(self) -> None:
        self.cancelled = True


def fake_heap() -> tuple[FakeLoop, TimerHeap[Hashable], list[tuple[Hashable, float]]]:
    loop = FakeLoop()
    fired: list[tuple[Hashable, float]] = []
    heap: TimerHeap[Hashable] = TimerHeap(loop, lambda key: fired.append((key, loop.now)))  # type: ignore[arg-type]
    return loop, heap, fired


def test_far_and_near_timers_fire_in_deadline_order_and_never_early() -> None:
    loop, heap, fired = fake_heap()
    deadlines = {"a": 0.5, "b": 3.2, "c": 2.5, "d": 40.0, "e": 3.0, "f": 1.999, "g": 2.0001}
    for key, delay in deadlines.items():
        heap.start(key, loop.now + delay)
    assert len(heap) == 7
    loop.advance(loop.now + 50)
    assert [key for key, _ in fired] == sorted(deadlines, key=deadlines.__getitem__)
    assert all(when >= 100.0 + deadlines[str(key)] for key, when in fired)
    assert len(heap) == 0 and not heap._far and not heap._heap


def test_a_cancelled_far_timer_is_gone_at_once() -> None:
    """Timers B and F, cancelled by the first response, leave nothing behind for 32 s."""
    loop, heap, fired = fake_heap()
    for i in range(10_000):
        heap.start(i, loop.now + 32 + (i % 50) / 10)
        heap.cancel(i)
    assert len(heap) == 0 and not heap._far and not heap._far_at and not heap._heap
    loop.advance(loop.now + 60)
    assert fired == []


def test_a_key_moves_between_near_and_far_when_restarted() -> None:
    loop, heap, fired = fake_heap()
    heap.start("x", loop.now + 30)  # far
    heap.start("x", loop.now + 0.5)  # near now: replaces it
    heap.start("y", loop.now + 0.5)  # near
    heap.start("y", loop.now + 10)  # far now
    loop.advance(loop.now + 1)
    assert fired == [("x", 100.5)]
    heap.cancel("y")
    loop.advance(loop.now + 20)
    assert fired == [("x", 100.5)] and len(heap) == 0
