"""Journal-service measurements for ``bench_journal.py`` (kept apart to stay small).

Each figure comes with its same-run baseline:
- one asyncio client (``sipguard serve``'s path) against the in-process writer thread:
  records/s flat out, and submit -> durable latency at a fixed offered rate;
- four blocking client processes (Kamailio workers' path), each appending one record at a
  time and waiting for its ack, against four processes appending straight to SQLite with
  one transaction per record (the plugin's former path).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from sipguard.journal import launch
from sipguard.journal.aclient import AsyncJournalClient
from sipguard.journal.client import ServiceClient
from sipguard.journal.record import Entry
from sipguard.journal.store import JournalStore
from sipguard.journal.wire import socket_path_for

Make = Callable[[int], Entry]
Baseline = tuple[float, list[float], float]


def running(path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a service for ``path``; (process, socket)."""
    sock = socket_path_for(path)
    return launch.spawn(launch.command(path, watch_pid=os.getpid()), sock), sock


def async_flat_out(sock: Path, entries: list[Entry]) -> tuple[float, float]:
    """Records/s with every entry submitted at once from one asyncio client, and the
    client process's CPU seconds per record (what the server's event loop pays)."""

    async def main() -> tuple[float, float]:
        client = AsyncJournalClient(sock)
        await client.connect()
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client.submit(e) for e in entries))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        client.close()
        return len(entries) / elapsed, cpu / len(entries)

    return asyncio.run(main())


def async_latency(sock: Path, make: Make, n: int, rate: float) -> list[float]:
    """Submit -> durable latencies (seconds) at an offered ``rate`` from one asyncio client."""

    async def main() -> list[float]:
        client = AsyncJournalClient(sock)
        await client.connect()
        lat: list[float] = []
        pending = []
        start = time.perf_counter()
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(_timed(client.submit(make(i)), lat))
        await asyncio.gather(*pending)
        await asyncio.sleep(0)
        client.close()
        return sorted(lat)

    return asyncio.run(main())


def _timed(fut: asyncio.Future[Any], lat: list[float]) -> asyncio.Future[Any]:
    sent = time.perf_counter()

    def done(_f: asyncio.Future[Any]) -> None:
        lat.append(time.perf_counter() - sent)

    fut.add_done_callback(done)
    return fut


def _worker(
    mode: str, target: str, make: Make, first: int, n: int, out: Queue[list[float]]
) -> None:
    lat = []
    sink = ServiceClient(target) if mode == "service" else JournalStore(target)
    append = sink.append
    for i in range(first, first + n):
        sent = time.perf_counter()
        append([make(i)])
        lat.append(time.perf_counter() - sent)
    out.put(lat)


def four_processes(mode: str, target: str, make: Make, n: int) -> tuple[float, list[float]]:
    """Records/s and per-record latencies of 4 processes appending ``n`` records in all."""
    if mode != "service":
        JournalStore(target).close()  # the schema and WAL mode, before four racing openers
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    each = max(1, n // 4)
    procs = [
        ctx.Process(target=_worker, args=(mode, target, make, k * each, each, out))
        for k in range(4)
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    lat = [x for _ in procs for x in out.get(timeout=300)]  # a dead worker ends the run
    for p in procs:
        p.join(120)
    return 4 * each / (time.perf_counter() - started), sorted(lat)


def p99(lat: list[float]) -> float:
    """The 99th percentile of sorted latencies."""
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def report(tmp: Path, make: Make, sizes: dict[str, int], rate: float, writer: Baseline) -> None:
    """Print the service rows; ``writer`` is the in-process writer's (records/s, latencies)."""
    n, per = sizes["records"], sizes["process_records"]
    proc, sock = running(tmp / "service.db")
    try:
        flat, flat_cpu = async_flat_out(sock, [make(i) for i in range(n)])
        lat = async_latency(sock, lambda i: make(n + i), sizes["latency_records"], rate)
        svc4, svc4_lat = four_processes("service", str(sock), lambda i: make(9 * n + i), per)
    finally:
        proc.terminate()
        proc.wait(10)
    direct4, direct4_lat = four_processes("sqlite", str(tmp / "direct.db"), make, per)
    w_rate, w_lat, w_cpu = writer
    ms, us = 1e3, 1e6
    print(f"| service, 1 asyncio client, flat out | {flat:,.0f} records/s |")
    print(f"| service / in-process writer, flat out | {flat / w_rate:.2f}x |")
    print(
        f"| CPU per record in the submitting process, service / writer | {flat_cpu * us:.1f} / "
        f"{w_cpu * us:.1f} us = {flat_cpu / w_cpu:.2f}x |"
    )
    print(
        f"| durable p99 at {rate:,.0f}/s, service / writer | "
        f"{p99(lat) * ms:.2f} / {p99(w_lat) * ms:.2f} ms = {p99(lat) / p99(w_lat):.2f}x |"
    )
    print(
        f"| 4 processes, service / straight to SQLite | {svc4:,.0f} / {direct4:,.0f} "
        f"records/s = {svc4 / direct4:.2f}x |"
    )
    print(
        f"| 4 processes p99, service / straight to SQLite | {p99(svc4_lat) * ms:.2f} / "
        f"{p99(direct4_lat) * ms:.2f} ms = {p99(svc4_lat) / p99(direct4_lat):.2f}x |"
    )
