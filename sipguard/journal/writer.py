"""Group-commit journal writer: one thread, one connection, one fsync per batch.

Invariants:
- ``submit`` never blocks on the disk.  It returns a ``concurrent.futures.Future`` that is
  resolved with the stored :class:`Entry` only after the transaction holding it committed
  with ``synchronous=FULL`` (WAL fsynced), or failed with :class:`JournalUnavailable`.
- Batching is natural group commit: the thread takes everything queued when it wakes (plus
  whatever arrives within ``batch_window`` seconds, 0 by default), so at low load a record
  waits for nothing but its own fsync, and under load the entries that queue up during one
  fsync share the next one.
- A failed batch (full disk, database locked beyond ``busy_ms``, I/O error) is rolled back,
  logged loudly, counted, and fails every future in it; ``healthy`` turns False until a
  later batch commits.  The caller decides what a failure means (the server refuses
  outbound calls with 503 and logs inbound records instead).
- The thread never dies quietly: an unexpected error in a batch (anything but SQLite's own)
  fails that batch's futures with error ``internal`` and the thread goes on.  Should the
  thread end anyway, ``healthy`` turns False, the metric follows, every queued future fails
  and ``submit`` fails at once: no caller is ever left waiting.
- With ``retention_days`` set, the writer purges old entries when it starts and then every
  ``purge_every`` seconds, between batches.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import structlog

from sipguard import metrics
from sipguard.errors import SipguardError
from sipguard.journal.record import Entry
from sipguard.journal.store import JournalStore
from sipguard.ratelimit import RateLimiter

_log = structlog.get_logger("sipguard.journal")


class JournalUnavailable(SipguardError):
    """The journal could not make a record durable (disk full, database locked, I/O error)."""

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


_Item = tuple[Entry | None, "Future[Entry | None]"]


def error_class(exc: sqlite3.Error) -> str:
    """A short, stable label for an SQLite failure: full, locked, readonly or io."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == sqlite3.SQLITE_FULL:
        return "full"
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return "locked"
    if primary == sqlite3.SQLITE_READONLY:
        return "readonly"
    return "io"


class JournalWriter:
    """Owns the journal's write connection and its group-commit thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        batch_window: float = 0.0,
        max_batch: int = 2000,
        busy_ms: int = 500,
        retention_days: int | None = None,
        purge_every: float = 86_400.0,
        clock: Callable[[], datetime] | None = None,
        max_page_count: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._store = JournalStore(path, busy_ms=busy_ms, max_page_count=max_page_count)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._window = batch_window
        self._max_batch = max_batch
        self._retention = retention_days
        self._purge_every = purge_every
        self._clock = clock or (lambda: datetime.now(UTC))
        self._next_purge = 0.0
        self._healthy = True
        self._closed = False
        self._dead = False
        self._fail_log = RateLimiter("journal_failure", rate=1.0, burst=5)
        metrics.JOURNAL_HEALTHY.set(1)
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    @property
    def healthy(self) -> bool:
        """False after a failed write (until the next batch commits) or once the thread died."""
        if self._healthy and not self._thread.is_alive() and not self._closed:
            self._set_healthy(healthy=False)
        return self._healthy

    def submit(self, entry: Entry) -> Future[Entry | None]:
        """Queue ``entry``; the future resolves with the stored entry once it is durable."""
        fut: Future[Entry | None] = Future()
        if self._closed or self._dead:
            fut.set_exception(JournalUnavailable("journal writer is not running", "closed"))
            return fut
        self._queue.put((entry, fut))
        metrics.JOURNAL_QUEUE_DEPTH.inc()
        return fut

    def record(self, entry: Entry, timeout: float | None = None) -> Entry:
        """Append ``entry`` and wait until it is durable (for replay, check, Kamailio)."""
        stored = self.submit(entry).result(timeout)
        assert stored is not None
        return stored

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything submitted before this call is committed or failed."""
        fut: Future[Entry | None] = Future()
        self._queue.put((None, fut))
        fut.result(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Commit what is queued, stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        self._store.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._dead = True
            if not self._closed:
                self._set_healthy(healthy=False)
                _log.critical("journal.writer_died", path=str(self.path))
            self._fail_queued()

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                metrics.JOURNAL_QUEUE_DEPTH.dec()
                item[1].set_exception(JournalUnavailable("journal writer stopped", "closed"))

    def _loop(self) -> None:
        running = True
        while running:
            self._maybe_purge()
            try:
                first = self._queue.get(timeout=self._idle_timeout())
            except queue.Empty:
                continue
            if first is None:
                break
            batch, running = self._collect(first)
            try:
                self._commit(batch)
            except Exception as exc:  # any failure must fail the batch, loudly
                self._fail(batch, exc)
            except BaseException:
                self._fail(batch, RuntimeError("journal writer stopped"))
                raise

    def _idle_timeout(self) -> float | None:
        if self._retention is None:
            return None
        return max(0.01, self._next_purge - time.monotonic())

    def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        batch = [first]
        deadline = time.monotonic() + self._window
        while len(batch) < self._max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                return batch, False
            batch.append(item)
        return batch, True

    def _commit(self, batch: list[_Item]) -> None:
        metrics.JOURNAL_QUEUE_DEPTH.dec(len(batch))
        entries = [e for e, _ in batch if e is not None]
        stored: list[Entry] = []
        if entries:
            started = time.perf_counter()
            try:
                stored = self._store.append(entries)
            except sqlite3.Error as exc:
                self._fail(batch, exc)
                return
            metrics.JOURNAL_COMMIT_SECONDS.observe(time.perf_counter() - started)
            metrics.JOURNAL_BATCH_SIZE.observe(len(entries))
            metrics.JOURNAL_RECORDS.inc(len(entries))
            self._set_healthy(healthy=True)
        done = iter(stored)
        for entry, fut in batch:
            fut.set_result(next(done) if entry is not None else None)

    def _fail(self, batch: list[_Item], exc: Exception) -> None:
        kind = error_class(exc) if isinstance(exc, sqlite3.Error) else "internal"
        metrics.JOURNAL_WRITE_FAILURES.labels(error=kind).inc()
        self._set_healthy(healthy=False)
        if self._fail_log.allow(time.monotonic()):
            _log.error(
                "journal.write_failed",
                error=kind,
                detail=str(exc),
                path=str(self.path),
                entries=len(batch),
                suppressed=self._fail_log.take_suppressed(),
            )
        for entry, fut in batch:
            if fut.done():
                continue
            if entry is None:
                fut.set_result(None)  # a flush barrier: the batch before it is settled
            else:
                fut.set_exception(JournalUnavailable(f"journal write failed: {exc}", kind))

    def _set_healthy(self, *, healthy: bool) -> None:
        if healthy != self._healthy:
            self._healthy = healthy
            metrics.JOURNAL_HEALTHY.set(int(healthy))
            if healthy:
                _log.warning("journal.recovered", path=str(self.path))

    def _maybe_purge(self) -> None:
        if self._retention is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self._purge_every
        try:
            deleted = self._store.purge(self._clock(), self._retention)
        except sqlite3.Error as exc:
            metrics.JOURNAL_WRITE_FAILURES.labels(error=error_class(exc)).inc()
            _log.error("journal.purge_failed", detail=str(exc), path=str(self.path))
            return
        metrics.JOURNAL_PURGED.inc(deleted)
        if deleted:
            _log.info("journal.purged", deleted=deleted, retention_days=self._retention)
