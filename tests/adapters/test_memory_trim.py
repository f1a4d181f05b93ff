"""The heap trim gives freed memory back to the system, and frees nothing in use."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sipguard.adapters.server import memory


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_trim_returns_the_space_a_freed_burst_left_behind() -> None:
    """40,000 datagram-sized objects, one in 200 kept: freeing the rest lowers RSS only
    once the heap is trimmed, and the kept ones are intact."""
    if not memory.release():
        pytest.skip("this C library has no malloc_trim (not glibc)")
    keep: list[bytes] = []
    junk: list[bytes] = []
    for i in range(40_000):
        (keep if i % 200 == 0 else junk).append(bytes(3000) + str(i).encode())
    peak = rss_kb()
    junk.clear()
    untrimmed = rss_kb()
    assert memory.release()
    trimmed = rss_kb()
    burst = peak - trimmed
    assert burst > 60_000  # about 120 MB were allocated and ~99.5% of it freed
    assert untrimmed - trimmed > burst // 2
    assert all(b.endswith(str(i * 200).encode()) for i, b in enumerate(keep))


def test_the_task_sweeps_then_trims_on_its_period_until_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    sweeps: list[int] = []

    def fake() -> bool:
        assert len(sweeps) == len(calls) + 1  # each trim follows its sweep
        calls.append(1)
        return True

    async def run() -> None:
        sweep = lambda: sweeps.append(1)  # noqa: E731
        task = asyncio.get_running_loop().create_task(memory.trim_every(sweep, lambda: 0, 0.01))
        await asyncio.sleep(0.1)
        task.cancel()

    monkeypatch.setattr(memory, "release", fake)
    asyncio.run(run())
    assert len(calls) >= 3
    assert len(sweeps) - len(calls) in (0, 1)


def test_a_collection_is_due_each_time_a_burst_has_drained_to_an_eighth() -> None:
    """Below the floor nothing is a burst; a burst is collected after when what is live
    fell to an eighth of its peak, and again at each further eighth while that was still a
    burst; then not until the next burst."""
    watch = memory.AfterBurst(floor=1_000)
    assert not any(watch.due(n) for n in (10, 900, 100, 0))  # never a burst
    assert not any(watch.due(n) for n in (2_000, 16_000, 4_000, 2_001))
    assert watch.due(2_000)  # 16,000 / 8
    assert not watch.due(1_000) and watch.due(250)  # 2,000 / 8
    assert not any(watch.due(n) for n in (200, 10, 0, 500))  # 250 is no burst: done
    assert not watch.due(3_000) and watch.due(300)  # the next one


def test_the_task_collects_after_a_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the core's live state rising past the floor and draining, the task runs one
    full collection, on the loop, between its sweeps."""
    collected: list[int] = []
    levels = iter([0, 5_000, 20_000, 9_000, 100, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    monkeypatch.setattr(memory.gc, "collect", lambda: collected.append(1) or 0)
    flushed: list[int] = []
    monkeypatch.setattr(memory, "flush_thread_cache", lambda: flushed.append(len(collected)))
    monkeypatch.setattr(memory, "release", lambda: False)

    async def run() -> None:
        task = asyncio.get_running_loop().create_task(
            memory.trim_every(lambda: None, lambda: next(levels, 0), 0.005)
        )
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(run())
    assert collected == [1]
    assert flushed[0] == 0 and 1 in flushed  # at every period: before and after collecting
