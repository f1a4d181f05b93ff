"""The journal service at a fixed offered rate, its commits held (the default) or not.

For ``bench_journal.py``.  One service per run, started with ``--commit-delay 0`` (every
batch committed at the end of the pass its first request came in: the plain group commit)
or with the default delay (see ``sipguard.journal.pacing``), the two in turns, each for
the same number of records at the same rate, from:
- one asyncio client (``sipguard serve``'s path), a decision every 1/rate seconds;
- four blocking client processes (Kamailio workers' path), each at a quarter of the rate;
- one blocking client, flat out, one record at a time (the worst case for holding: nobody
  else can add to its batch, so it must not wait).

Each row gives the service process's CPU per record (user + system, from /proc), the
records per commit and the submit -> durable p99, each the median of ``rounds`` runs.
A first row times the service's path from a wire body to a stored row against the plain
path through an entry.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
import timeit
from collections.abc import Callable
from multiprocessing.queues import Queue
from pathlib import Path

from journal_service import async_latency

from sipguard import metrics
from sipguard.journal import launch
from sipguard.journal.client import ServiceClient
from sipguard.journal.record import Entry, body_hash, checked_body
from sipguard.journal.wire import body_entry, entry_body, socket_path_for

Make = Callable[[int], Entry]
Result = tuple[float, float, float]  # CPU seconds per record, records per commit, p99


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p99(lat: list[float]) -> float:
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))]


_seen = [0.0, 0.0]


def _batches() -> float:
    """Records per commit the async client was told of since the last call."""
    count = metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_count") or 0.0
    total = metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_sum") or 0.0
    commits, records = count - _seen[0], total - _seen[1]
    _seen[:] = [count, total]
    return records / commits if commits else 0.0


def _async_client(sock: Path, make: Make, n: int, rate: float) -> tuple[list[float], float]:
    """``journal_service.async_latency``'s latencies, and the records per commit seen."""
    _batches()
    lat = async_latency(sock, make, n, rate)
    return lat, _batches()


def _blocking(sock: str, make: Make, first: int, n: int, gap: float, out: Queue[object]) -> None:
    client = ServiceClient(sock)
    commits: list[tuple[int, float]] = []  # one commit tells each of its clients the same
    client.on_stats = lambda entries, seconds: commits.append((entries, seconds))
    lat = []
    start = time.perf_counter()
    for i in range(n):
        delay = start + i * gap - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        client.append([make(first + i)])
        lat.append(time.perf_counter() - sent)
    out.put((lat, commits))


def _processes(sock: Path, make: Make, n: int, rate: float, k: int) -> tuple[list[float], float]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    gap = k / rate if rate else 0.0
    procs = [
        ctx.Process(target=_blocking, args=(str(sock), make, j * n, n // k, gap, out))
        for j in range(k)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
    lat = [x for r in results for x in r[0]]
    commits = {c for r in results for c in r[1]}
    return lat, sum(e for e, _ in commits) / max(1, len(commits))


def run(tmp: Path, delay_ms: float | None, load: str, make: Make, n: int, rate: float) -> Result:
    """One service, one load; ``delay_ms`` None is the service's default."""
    path = tmp / f"paced-{load}-{delay_ms}-{time.monotonic_ns()}.db"
    sock = socket_path_for(path)
    argv = launch.command(path, watch_pid=os.getpid())
    argv += [] if delay_ms is None else ["--commit-delay", str(delay_ms)]
    proc = launch.spawn(argv, sock)
    try:
        before = _cpu(proc.pid)
        if load == "async":
            lat, batch = _async_client(sock, make, n, rate)
        else:
            lat, batch = _processes(sock, make, n, rate, 4 if load == "four" else 1)
        used = _cpu(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(10)
    return used / n, batch, _p99(lat)


def body_path(make: Make) -> tuple[float, float]:
    """Seconds per record from a wire body to its stored row and hash: through an entry
    (``body_entry``, ``chained``, ``row``: the plain path) against the service's path
    (``checked_body``, ``body_hash``); the best of 7 runs of each."""
    body, prev = entry_body(make(5)), "ab" * 32

    def plain() -> tuple[object, ...]:
        return body_entry(body).chained(7, prev).row()

    def direct() -> tuple[object, ...]:
        checked = checked_body(body)
        return (*checked, 7, prev, body_hash(checked, 7, prev))

    assert plain() == direct()
    n = 5000
    return tuple(min(timeit.repeat(f, number=n, repeat=7)) / n for f in (plain, direct))  # type: ignore[return-value]


def _median(runs: list[Result], k: int) -> float:
    return statistics.median(r[k] for r in runs)


def report(
    tmp: Path,
    make: Make,
    n: int,
    rate: float,
    rounds: int = 3,
    *,
    delay_ms: float | None = None,
    loads: str = "async,four,one",
) -> None:
    """Print the rows: each load with its commits plain and held (``delay_ms``, None for the
    service's default), in turns, ``rounds`` times (medians)."""
    print(f"\n| {n:,} records at {rate:,.0f}/s | service CPU per record, plain / held | "
          "records per commit, plain / held | durable p99, plain / held |")  # fmt: skip
    print("|---|---|---|---|")
    plain_s, direct_s = body_path(make)
    print(f"| wire body to stored row, plain (an entry) / the service's | {plain_s * 1e6:.1f} / "
          f"{direct_s * 1e6:.1f} us = {direct_s / plain_s:.2f}x | | |")  # fmt: skip
    names = {"async": "one asyncio client", "four": "four blocking processes",
             "one": "one blocking client, flat out"}  # fmt: skip
    for load in loads.split(","):
        name = names[load]
        offered = 0.0 if load == "one" else rate
        runs: dict[str, list[Result]] = {"plain": [], "held": []}
        for _ in range(rounds):
            runs["plain"].append(run(tmp, 0.0, load, make, n, offered))
            runs["held"].append(run(tmp, delay_ms, load, make, n, offered))
        plain, held = ([_median(runs[side], k) for k in range(3)] for side in ("plain", "held"))
        us, ms = 1e6, 1e3
        print(f"| {name} | {plain[0] * us:.0f} / {held[0] * us:.0f} us = "
              f"{held[0] / plain[0]:.2f}x | {plain[1]:.2f} / {held[1]:.2f} | "
              f"{plain[2] * ms:.2f} / {held[2] * ms:.2f} ms |")  # fmt: skip
