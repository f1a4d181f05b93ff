"""PostgreSQL journal benchmark, against the SQLite journal measured in the same run.

Every row is the journal service, the path ``sipguard serve`` takes (one asyncio client,
acks only once durable):
1. Records/s flat out with group commit, PostgreSQL / SQLite (``synchronous=FULL``), and the
   service process's CPU per record.
2. Durable p99 (submit -> ack) at a fixed offered rate, PostgreSQL / SQLite.
3. Group commit against one commit per record, both on PostgreSQL (the store directly).
4. Two nodes, two services on one database, each flat out at once: records/s in all
   against one node alone (what the advisory lock on the chain head costs), and the chain
   verified afterwards.

PostgreSQL is a private cluster started for the run (``tests/pg_cluster.py``) unless
``--url`` names a database (it must be empty or a journal).

Run:  .venv/bin/python bench/bench_journal_pg.py [--records 5000] [--rate 500] [--url URL]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import journal_service
from bench_journal import entry

from sipguard.journal import launch
from sipguard.journal.pg_store import PgJournalStore


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service(target: str | Path, tmp: Path, tag: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A journal service for an SQLite file or a PostgreSQL URL; (process, socket)."""
    sock = tmp / f"{tag}.sock"
    argv = launch.command(target, state=tmp / f"{tag}.state.db", socket=sock,
                          watch_pid=os.getpid())  # fmt: skip
    return launch.spawn(argv, sock), sock


def measure(target: str | Path, tmp: Path, tag: str, args: argparse.Namespace) -> dict[str, float]:
    """Flat-out records/s, service CPU per record, and durable p99 at ``args.rate``."""
    proc, sock = service(target, tmp, tag)
    try:
        cpu = cpu_seconds(proc.pid)
        rate, _ = journal_service.async_flat_out(sock, [entry(i) for i in range(args.records)])
        cpu = cpu_seconds(proc.pid) - cpu
        lat = journal_service.async_latency(
            sock, lambda i: entry(10 * args.records + i), args.latency_records, args.rate
        )
    finally:
        proc.terminate()
        proc.wait(10)
    return {"rate": rate, "cpu_us": cpu / args.records * 1e6, "p99": journal_service.p99(lat)}


def per_record(url: str, n: int) -> tuple[float, float]:
    """Records/s appending one record per transaction, and ``n`` records in one batch."""
    store = PgJournalStore(url)
    try:
        started = time.perf_counter()
        for i in range(n):
            store.append([entry(20_000_000 + i)])
        single = n / (time.perf_counter() - started)
        started = time.perf_counter()
        store.append([entry(30_000_000 + i) for i in range(n)])
        batch = n / (time.perf_counter() - started)
    finally:
        store.close()
    return single, batch


def two_nodes(url: str, tmp: Path, n: int) -> tuple[float, bool]:
    """Records/s in all of two services flat out at once; whether the chain verifies."""
    procs = [service(url, tmp, f"node{k}") for k in (1, 2)]
    rates: list[float] = []

    def run(sock: Path, base: int) -> None:
        made = [entry(base + i) for i in range(n)]
        rates.append(journal_service.async_flat_out(sock, made)[0])

    started = time.perf_counter()
    try:
        threads = [threading.Thread(target=run, args=(sock, 40_000_000 + k * n))
                   for k, (_, sock) in enumerate(procs)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        elapsed = time.perf_counter() - started
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(10)
    store = PgJournalStore(url)
    ok = store.verify().ok
    store.close()
    return 2 * n / elapsed, ok


def report(url: str, tmp: Path, args: argparse.Namespace) -> None:
    """Print the table rows."""
    lite = measure(tmp / "journal.db", tmp, "sqlite", args)
    pg = measure(url, tmp, "pg", args)
    single, batch = per_record(url, args.single_records)
    both, chain_ok = two_nodes(url, tmp, args.records)
    ms = 1e3
    print("| measurement | PostgreSQL | SQLite (same run) | ratio |")
    print("|---|---|---|---|")
    print(f"| service flat out, records/s | {pg['rate']:,.0f} | {lite['rate']:,.0f} | "
          f"{pg['rate'] / lite['rate']:.2f}x |")
    print(f"| service CPU per record | {pg['cpu_us']:.1f} us | {lite['cpu_us']:.1f} us | "
          f"{pg['cpu_us'] / lite['cpu_us']:.2f}x |")
    print(f"| durable p99 at {args.rate:,.0f}/s | {pg['p99'] * ms:.2f} ms | "
          f"{lite['p99'] * ms:.2f} ms | {pg['p99'] / lite['p99']:.2f}x |")
    print(f"| PostgreSQL group commit / one commit per record | {batch:,.0f} / "
          f"{single:,.0f} records/s | | {batch / single:.1f}x |")
    print(f"| two nodes at once / one node, records/s | {both:,.0f} / {pg['rate']:,.0f} | | "
          f"{both / pg['rate']:.2f}x (chain {'verifies' if chain_ok else 'BROKEN'}) |")  # fmt: skip


def main() -> int:
    """Run the benchmark; 1 if the two-node chain does not verify."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5_000)
    ap.add_argument("--latency-records", type=int, default=2_000)
    ap.add_argument("--single-records", type=int, default=500)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--url", help="an empty PostgreSQL database (default: a private cluster)")
    args = ap.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pg-")))
        url = args.url
        if url is None:
            from tests.pg_cluster import PgCluster

            cluster = stack.enter_context(PgCluster.start())
            url = cluster.create_database("bench")
        report(url, tmp, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
