"""Journal and persistent-state benchmark, with baselines measured in the same run.

Three measurements:
1. Sustained record rate: entries submitted as fast as possible to the group-commit writer
   (``synchronous=FULL``, one fsync per batch) against one commit (one fsync) per entry.
2. Latency added to a decision: submit -> durable, at a fixed offered rate, p50/p99/max.
3. Policy-state lookups with 1,000,000 stored daily counts: ``take_call_slot`` plus
   ``suspension`` on SqliteState against the in-memory MemoryState.
4. The journal service (``journal_service.py``): records/s and durable p99 from one asyncio
   client against the in-process writer of 1. and 2., and from 4 blocking client processes
   against 4 processes appending straight to SQLite.
5. The journal service at a fixed rate with its batches held (the default commit delay)
   against ``--commit-delay 0`` (``journal_paced.py``): service CPU per record, records
   per commit, durable p99.

Run:  .venv/bin/python bench/bench_journal.py [--records 20000] [--rate 2000] [--counts 1000000]
      [--paced-records 2000] [--paced-rate 400] [--paced-rounds 3] [--paced-only]
      [--paced-delay MS] [--paced-loads async,four,one]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import journal_paced
import journal_service

from sipguard.journal.entries import decision_entry
from sipguard.journal.record import Entry
from sipguard.journal.state import SqliteState
from sipguard.journal.store import JournalStore
from sipguard.journal.writer import JournalWriter
from sipguard.policy.facts import CallFacts, Direction, Reason, Verdict
from sipguard.policy.state import MemoryState, State

T0 = datetime(2026, 6, 1, 10, tzinfo=timezone(timedelta(hours=8)))
DAY = date(2026, 6, 1)


def entry(i: int) -> Entry:
    """A realistic decision entry for call ``i``."""
    facts = CallFacts(
        f"{i:08x}-bench@127.0.0.2",
        "127.0.0.2",
        5060,
        "4008001234",
        None,
        None,
        f"138{i % 100_000_000:08d}",
    )
    verdict = Verdict(
        Reason.ALLOWED,
        Direction.OUTBOUND,
        "4008001234",
        f"138{i:08d}",
        "4008001234",
        "acme",
        "acme-sh-1",
        credential="C-42",
    )
    return decision_entry(
        facts, verdict, T0 + timedelta(milliseconds=i), legs=("a", "b"), rules_hash="0" * 16
    )


def per_record_commit_rate(path: Path, n: int) -> float:
    """Baseline: entries/s when each one gets its own transaction and fsync."""
    store = JournalStore(path)
    started = time.perf_counter()
    for i in range(n):
        store.append([entry(i)])
    elapsed = time.perf_counter() - started
    store.close()
    return n / elapsed


def group_commit_rate(path: Path, n: int) -> tuple[float, float, float]:
    """Entries/s through the writer flat out, the mean batch size, and the CPU seconds per
    entry of the submitting process (its writer thread included: same process, same GIL)."""
    entries = [entry(i) for i in range(n)]
    with JournalWriter(path) as writer:
        started, cpu = time.perf_counter(), time.process_time()
        futures = [writer.submit(e) for e in entries]
        for fut in futures:
            fut.result()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    from sipguard import metrics

    count = metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_count") or 1
    total = metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_sum") or 0
    return n / elapsed, total / count, cpu / n


def latency(path: Path, n: int, rate: float) -> list[float]:
    """Submit -> durable latencies (seconds) at an offered ``rate`` per second."""
    lat: list[float] = []
    lock = threading.Lock()
    with JournalWriter(path) as writer:
        start = time.perf_counter()
        for i in range(n):
            due = start + i / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.0005, due - now))
            sent = time.perf_counter()

            def done(_f: object, sent: float = sent) -> None:
                with lock:
                    lat.append(time.perf_counter() - sent)

            writer.submit(entry(i)).add_done_callback(done)
        writer.flush()
    return sorted(lat)


def fsync_latencies(path: Path, n: int) -> list[float]:
    """Baseline: one 600-byte overwrite + fdatasync in a preallocated file (as a reused WAL)."""
    import os

    lat = []
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, bytes(1 << 20))
        os.fsync(fd)
        for i in range(n):
            started = time.perf_counter()
            os.pwrite(fd, b"x" * 600, (i * 4096) % (1 << 20))
            os.fdatasync(fd)
            lat.append(time.perf_counter() - started)
    finally:
        os.close(fd)
    return sorted(lat)


def fill_counts(state: State, path: Path | None, n: int) -> None:
    """Store ``n`` distinct (operator, callee, day) counts."""
    if isinstance(state, SqliteState) and path is not None:
        import sqlite3

        conn = sqlite3.connect(path)
        conn.executemany(
            "INSERT INTO call_counts VALUES (?, ?, ?, 1)",
            ((f"op{i % 50}", f"1{i:010d}", DAY.isoformat()) for i in range(n)),
        )
        conn.commit()
        conn.close()
        return
    for i in range(n):
        state.take_call_slot(f"op{i % 50}", f"1{i:010d}", DAY, None)


def lookups_per_second(state: State, n_counts: int, ops: int) -> tuple[float, float]:
    """take_call_slot/s and suspension lookups/s on random stored keys."""
    rng = random.Random(7)
    keys = [rng.randrange(n_counts) for _ in range(ops)]
    numbers = [f"400{k:07d}" for k in keys]
    started = time.perf_counter()
    for i in keys:
        state.take_call_slot(f"op{i % 50}", f"1{i:010d}", DAY, 2)
    slots = ops / (time.perf_counter() - started)
    started = time.perf_counter()
    for number in numbers:
        state.suspension(number)
    return slots, ops / (time.perf_counter() - started)


def main() -> int:
    """Run the three measurements and print a Markdown report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--baseline-records", type=int, default=500)
    ap.add_argument("--rate", type=float, default=2_000.0)
    ap.add_argument("--latency-records", type=int, default=10_000)
    ap.add_argument("--process-records", type=int, default=4_000, help="4 processes, in all")
    ap.add_argument("--counts", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--paced-records", type=int, default=2_000, help="per run, held or not")
    ap.add_argument("--paced-rate", type=float, default=400.0)
    ap.add_argument("--paced-rounds", type=int, default=3)
    ap.add_argument("--paced-only", action="store_true", help="only the held/plain rows")
    ap.add_argument("--paced-delay", type=float, help="held runs' delay, ms (else the default)")
    ap.add_argument("--paced-loads", default="async,four,one", help="of async, four, one")
    ap.add_argument("--dir", help="directory for the databases (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        if not args.paced_only:
            report(Path(tmp), args)
        journal_paced.report(
            Path(tmp),
            entry,
            args.paced_records,
            args.paced_rate,
            args.paced_rounds,
            delay_ms=args.paced_delay,
            loads=args.paced_loads,
        )
    return 0


def report(tmp: Path, args: argparse.Namespace) -> None:
    """Measure and print."""
    single = per_record_commit_rate(tmp / "single.db", args.baseline_records)
    group, batch, group_cpu = group_commit_rate(tmp / "group.db", args.records)
    print("| measurement | value |\n|---|---|")
    print(f"| one commit per record (baseline) | {single:,.0f} records/s |")
    print(f"| group commit, flat out | {group:,.0f} records/s (mean batch {batch:.1f}) |")
    print(f"| group commit / baseline | {group / single:.1f}x |")
    lat = latency(tmp / "latency.db", args.latency_records, args.rate)
    sync = fsync_latencies(tmp / "fsync.bin", 500)
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    f50, f99 = sync[len(sync) // 2], sync[int(len(sync) * 0.99)]
    print(
        f"| durable latency at {args.rate:,.0f}/s p50 / p99 / max | "
        f"{p50 * 1e3:.2f} / {p99 * 1e3:.2f} / {lat[-1] * 1e3:.2f} ms |"
    )
    print(f"| raw write+fsync p50 / p99 (baseline) | {f50 * 1e3:.2f} / {f99 * 1e3:.2f} ms |")
    print(f"| durable latency / raw fsync, p50 / p99 | {p50 / f50:.1f}x / {p99 / f99:.1f}x |")
    sizes = {k: getattr(args, k) for k in ("records", "latency_records", "process_records")}
    journal_service.report(tmp, entry, sizes, args.rate, (group, lat, group_cpu))
    mem = MemoryState()
    fill_counts(mem, None, args.counts)
    mem_slot, mem_susp = lookups_per_second(mem, args.counts, args.lookups)
    sq = SqliteState(tmp / "state.db")
    fill_counts(sq, tmp / "state.db", args.counts)
    sq_slot, sq_susp = lookups_per_second(sq, args.counts, args.lookups)
    n = f"{args.counts:,} counts"
    print(
        f"| MemoryState take_call_slot / suspension, {n} | {mem_slot:,.0f} / {mem_susp:,.0f} /s |"
    )
    print(f"| SqliteState take_call_slot / suspension, {n} | {sq_slot:,.0f} / {sq_susp:,.0f} /s |")
    print(f"| SqliteState / MemoryState | {sq_slot / mem_slot:.3f}x / {sq_susp / mem_susp:.3f}x |")


if __name__ == "__main__":
    sys.exit(main())
