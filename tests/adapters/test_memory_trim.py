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
    if not memory.trim():
        pytest.skip("this C library has no malloc_trim (not glibc)")
    keep: list[bytes] = []
    junk: list[bytes] = []
    for i in range(40_000):
        (keep if i % 200 == 0 else junk).append(bytes(3000) + str(i).encode())
    peak = rss_kb()
    junk.clear()
    untrimmed = rss_kb()
    assert memory.trim()
    trimmed = rss_kb()
    burst = peak - trimmed
    assert burst > 60_000  # about 120 MB were allocated and ~99.5% of it freed
    assert untrimmed - trimmed > burst // 2
    assert all(b.endswith(str(i * 200).encode()) for i, b in enumerate(keep))


def test_the_task_trims_on_its_period_until_cancelled() -> None:
    calls: list[int] = []
    real = memory._TRIM
    if real is None:
        pytest.skip("this C library has no malloc_trim (not glibc)")

    def fake(pad: int) -> int:
        calls.append(pad)
        return 1

    async def run() -> None:
        task = asyncio.get_running_loop().create_task(memory.trim_every(0.01))
        await asyncio.sleep(0.1)
        task.cancel()

    memory._TRIM = fake
    try:
        asyncio.run(run())
    finally:
        memory._TRIM = real
    assert len(calls) >= 3 and set(calls) == {0}
