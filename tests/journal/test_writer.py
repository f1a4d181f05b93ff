"""The group-commit writer: durability futures, batching, failures, recovery and retention."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from sipguard import metrics
from sipguard.journal.entries import admin_entry
from sipguard.journal.store import JournalStore
from sipguard.journal.writer import JournalUnavailable, JournalWriter

from .conftest import T0, decision

ROOT = Path(__file__).resolve().parents[2]


def _failures(kind: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "sipguard_journal_write_failures_total", {"error": kind}
    )
    return value or 0.0


def test_submit_resolves_once_durable_and_record_blocks(db: Path) -> None:
    """A submitted entry's future yields the stored entry; record() returns it directly."""
    with JournalWriter(db) as writer:
        fut = writer.submit(decision(1))
        stored = fut.result(5)
        again = writer.record(decision(2))
    assert stored is not None and stored.seq == 1 and again.seq == 2
    assert JournalStore(db).verify().ok


def test_many_submissions_share_commits(db: Path) -> None:
    """Entries queued while a commit runs are written together, in submission order."""
    before = metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_count") or 0.0
    with JournalWriter(db, batch_window=0.005) as writer:
        futures = [writer.submit(decision(i)) for i in range(500)]
        writer.flush(10)
        assert all(f.done() for f in futures)
    batches = (metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_count") or 0) - before
    assert 1 <= batches < 100
    calls = [e.call_id for e in JournalStore(db).entries()]
    assert calls == [f"call-{i}" for i in range(500)]


def test_full_database_fails_futures_and_marks_unhealthy(db: Path) -> None:
    """On SQLITE_FULL the future fails with JournalUnavailable and a metric counts it."""
    JournalStore(db).close()
    pages = sqlite3.connect(db).execute("PRAGMA page_count").fetchone()[0]
    before = _failures("full")
    written = 0
    with JournalWriter(db, max_page_count=pages + 4) as writer:
        with pytest.raises(JournalUnavailable) as info:
            for _ in range(1000):
                writer.record(admin_entry("pad", T0, detail={"pad": "x" * 2000}), timeout=5)
                written += 1
        assert info.value.error == "full" and not writer.healthy
    assert 0 < written < 1000 and _failures("full") == before + 1
    store = JournalStore(db)
    assert store.count() == written and store.verify().ok


def test_locked_database_fails_then_recovers(db: Path) -> None:
    """A write lock held elsewhere fails the batch after busy_ms; the next batch succeeds."""
    JournalStore(db).close()
    blocker = sqlite3.connect(db, isolation_level=None)
    with JournalWriter(db, busy_ms=50) as writer:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(JournalUnavailable) as info:
            writer.record(decision(1), timeout=5)
        assert info.value.error == "locked" and not writer.healthy
        assert metrics.REGISTRY.get_sample_value("sipguard_journal_healthy") == 0
        blocker.execute("ROLLBACK")
        assert writer.record(decision(2), timeout=5).seq == 1
        assert writer.healthy
    blocker.close()


def test_closed_writer_refuses_submissions(db: Path) -> None:
    """After close() a submission fails at once instead of hanging."""
    writer = JournalWriter(db)
    writer.close()
    with pytest.raises(JournalUnavailable):
        writer.submit(decision(1)).result(1)


def test_writer_purges_by_retention_on_start(db: Path) -> None:
    """A writer with retention_days purges entries older than the cutoff by its own clock."""
    JournalStore(db).append([decision(1, T0), decision(2, T0 + timedelta(days=20))])
    now = T0 + timedelta(days=40)
    with JournalWriter(db, retention_days=30, clock=lambda: now) as writer:
        writer.record(decision(3, now))
    store = JournalStore(db)
    calls = [e.call_id for e in store.entries() if e.kind == "decision"]
    assert calls == ["call-2", "call-3"] and store.verify().ok


_CHILD = textwrap.dedent(
    """
    import sys, threading
    from sipguard.journal.writer import JournalWriter
    from tests.journal.conftest import decision
    lock = threading.Lock()
    def done(fut):
        if fut.exception() is None:
            with lock:
                sys.stdout.write(fut.result().call_id + "\\n")
                sys.stdout.flush()
    writer = JournalWriter(sys.argv[1])
    i = 0
    while True:
        writer.submit(decision(i)).add_done_callback(done)
        i += 1
        if i % 50 == 0:
            threading.Event().wait(0.001)
    """
)


def test_kill_9_loses_no_acknowledged_record(db: Path) -> None:
    """Every entry reported durable before a SIGKILL is in the journal afterwards."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    printed: list[str] = []
    while len(printed) < 2000:
        line = child.stdout.readline()
        assert line, "child exited early"
        printed.append(line.strip())
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    printed += [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    store = JournalStore(db)
    stored = {e.call_id for e in store.entries()}
    assert set(printed) <= stored
    assert store.verify().ok


_FULL_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from sipguard.journal.writer import JournalUnavailable, JournalWriter
    from sipguard.journal.entries import admin_entry
    from tests.journal.conftest import T0
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    writer = JournalWriter(sys.argv[1])
    writer.record(admin_entry("start", T0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))
    ok, failed = 0, set()
    for i in range(300):
        try:
            writer.record(admin_entry("pad", T0, detail={"pad": "x" * 1000}))
            ok += 1
        except JournalUnavailable as exc:
            failed.add(exc.error)
    print(ok, ",".join(sorted(failed)), writer.healthy)
    """
)


def test_real_file_size_limit_fails_writes_and_keeps_journal_readable(db: Path) -> None:
    """When the OS refuses to grow the file (RLIMIT_FSIZE), writes fail and what committed stays."""
    done = subprocess.run(
        [sys.executable, "-c", _FULL_CHILD, str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    ok_text, failed, healthy = done.stdout.splitlines()[-1].split()
    assert int(ok_text) < 300 and failed and healthy == "False"
    store = JournalStore(db)
    assert store.count() == int(ok_text) + 1
    assert store.verify().ok
