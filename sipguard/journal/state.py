"""SqliteState: the policy's State (sipguard.policy.state) kept in SQLite.

Invariants:
- Kept beside the journal by default, in its own SQLite file (``state_path_for``): the
  journal commits with ``synchronous=FULL`` and holds SQLite's single write lock through
  each fsync, and a decision's count update must never wait behind one.  Measured with
  ``bench/bench_serve.py`` at 300 bridged calls/s, one shared file put the post-dial
  delay at 424 ms p50; separate files, 12 ms.
- Every read-modify-write runs inside ``BEGIN IMMEDIATE`` (``store.immediate``), which
  takes SQLite's single write lock before reading, so several processes (or nodes sharing
  one file system that honours POSIX locks) never count past a limit.
- The connection uses WAL with ``synchronous=NORMAL``: a commit survives a crash of the
  process (the counts are in the WAL), and only an OS crash or power loss may lose the last
  few counts.  The journal's own connection stays at ``FULL``.
- Times come in as aware datetimes.  A violation is integer microseconds (``ts``, as the
  service's cache reads it) plus the nanoseconds below (``sub_ns``; a file made before it
  gains the column), and ``(at - window, at]`` is compared in exact nanoseconds.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sipguard.journal.cache import CachedState, Statement
from sipguard.journal.entries import to_ts
from sipguard.journal.store import connect, immediate
from sipguard.policy.instant import epoch_ns, window_ns
from sipguard.policy.state import Suspension

_DDL = """
CREATE TABLE IF NOT EXISTS call_counts (
    operator TEXT NOT NULL, callee TEXT NOT NULL, day TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (operator, callee, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS violations (
    number TEXT NOT NULL, ts INTEGER NOT NULL, sub_ns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS violations_number ON violations(number, ts);
CREATE TABLE IF NOT EXISTS recent_calls (
    number TEXT NOT NULL, callee TEXT NOT NULL, ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS recent_calls_number ON recent_calls(number, ts);
CREATE INDEX IF NOT EXISTS recent_calls_ts ON recent_calls(ts);
CREATE TABLE IF NOT EXISTS outcomes (
    number TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, short INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outcomes_number ON outcomes(number, seq);

CREATE TABLE IF NOT EXISTS inbound_calls (
    call_id TEXT PRIMARY KEY, caller TEXT NOT NULL, number TEXT NOT NULL, ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inbound_calls_pair ON inbound_calls(caller, number, ts);
CREATE TABLE IF NOT EXISTS suspensions (
    number TEXT PRIMARY KEY, since TEXT NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL
);
"""
_EXACT = "ts * 1000 + sub_ns"  # a violation's exact time in nanoseconds
_SLOT = (
    "INSERT INTO call_counts (operator, callee, day, n) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (operator, callee, day) DO UPDATE SET n = n + 1 WHERE n < ?"
)

T = TypeVar("T")


def state_path_for(journal_path: str | Path) -> Path:
    """Where the persistent state lives for a journal: ``journal.db`` -> ``journal.state.db``."""
    path = Path(journal_path)
    return path.with_name(f"{path.stem}.state{path.suffix or '.db'}")


class SqliteState:
    """Implements :class:`sipguard.policy.state.State` on an SQLite file."""

    def __init__(
        self, path: str | Path, *, busy_ms: int = 10_000, cache_mib: int = 64, mmap_mib: int = 256
    ) -> None:
        self.path = Path(path)
        self._conn = connect(path, synchronous="NORMAL", busy_ms=busy_ms)
        # Counts are looked up at random: keep the hot B-tree pages cached and mapped.
        self._conn.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")
        self._conn.execute(f"PRAGMA mmap_size={int(mmap_mib) << 20}")
        self._conn.executescript(_DDL)
        _add_sub_ns(self._conn)
        # One cursor for every read: ``Connection.execute`` makes a cursor per call, and the
        # connection keeps a weak reference to each (CPython 3.11), a list of them that the
        # periodic refresh would otherwise regrow all the time, wherever memory is free.
        self._cursor = self._conn.cursor()
        self._lock = threading.Lock()
        self._version = self.data_version()

    def data_version(self) -> int:
        """SQLite's ``data_version``: it changes when another connection commits."""
        with self._lock:
            return int(self._cursor.execute("PRAGMA data_version").fetchone()[0])

    def changed_elsewhere(self) -> bool:
        """True (once) if another connection committed since the last call or load."""
        version = self.data_version()
        changed, self._version = version != self._version, version
        return changed

    def load(
        self, cache: CachedState, *, counts_from: date | None = None, counts: bool = True
    ) -> None:
        """Fill ``cache`` from the file: counts (of ``counts_from`` on, if given),
        violations and suspensions."""
        with self._lock:
            conn = self._conn
            if counts:
                rows = conn.execute(
                    "SELECT operator, callee, day, n FROM call_counts WHERE day >= ?",
                    ((counts_from or date.min).isoformat(),),
                )
                for op, callee, day, n in rows:
                    cache.counts[(op, callee, day)] = int(n)
            for number, ts in conn.execute("SELECT number, ts FROM violations ORDER BY ts"):
                cache.violations.setdefault(number, []).append(int(ts))
            for row in conn.execute("SELECT number, since, reason, by FROM suspensions"):
                cache.suspended[row[0]] = _suspension(row)
            self._version = int(conn.execute("PRAGMA data_version").fetchone()[0])

    def commit(self, statements: list[Statement]) -> None:
        """Run ``statements`` (from :meth:`CachedState.drain`) in one transaction."""

        def work(conn: sqlite3.Connection) -> None:
            for sql, args in statements:
                conn.execute(sql, args)

        self._tx(work)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _tx(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock, immediate(self._conn) as conn:
            return work(conn)

    def take_call_slot(self, operator: str, callee: str, day: date, limit: int | None) -> bool:
        """Count one allowed call unless ``limit`` calls are already counted (atomic)."""
        if limit is not None and limit <= 0:
            return False
        cap = limit if limit is not None else 2**62

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(_SLOT, (operator, callee, day.isoformat(), cap)).rowcount == 1

        return self._tx(work)

    def calls_on(self, operator: str, callee: str, day: date) -> int:
        """How many allowed calls are counted for (operator, callee, day)."""
        with self._lock:
            row = self._cursor.execute(
                "SELECT n FROM call_counts WHERE operator = ? AND callee = ? AND day = ?",
                (operator, callee, day.isoformat()),
            ).fetchone()
        return int(row[0]) if row else 0

    def add_violation(self, number: str, at: datetime, window: timedelta) -> int:
        """Record a counted rejection; return how many fall within ``(at - window, at]``,
        compared in exact nanoseconds."""
        now = epoch_ns(at)
        where = f"FROM violations WHERE number = ? AND {_EXACT} <= ?"

        def work(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO violations VALUES (?, ?, ?)", (number, *divmod(now, 1000)))
            conn.execute(f"DELETE {where}", (number, now - window_ns(window)))
            return int(conn.execute(f"SELECT COUNT(*) {where}", (number, now)).fetchone()[0])

        return self._tx(work)

    def suspension(self, number: str) -> Suspension | None:
        """The number's current suspension, or None."""
        with self._lock:
            row = self._cursor.execute(
                "SELECT number, since, reason, by FROM suspensions WHERE number = ?", (number,)
            ).fetchone()
        return _suspension(row) if row else None

    def suspend(self, number: str, since: datetime, reason: str, by: str) -> None:
        """Suspend ``number`` (an existing suspension stays as it is)."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO suspensions (number, since, reason, by) VALUES (?,?,?,?)",
                (number, since.isoformat(), reason, by),
            )

        self._tx(work)

    def resume(self, number: str) -> bool:
        """End a suspension and forget the number's violations; False if none was in force."""

        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM violations WHERE number = ?", (number,))
            return conn.execute("DELETE FROM suspensions WHERE number = ?", (number,)).rowcount > 0

        return self._tx(work)

    def suspensions(self) -> list[Suspension]:
        """Every suspension in force, oldest first."""
        with self._lock:
            rows = self._cursor.execute(
                "SELECT number, since, reason, by FROM suspensions"
            ).fetchall()
        return sorted((_suspension(r) for r in rows), key=lambda s: (s.since, s.number))

    # Behavioural limits (rules 1.1 section 5): one row per allowed call inside the window.
    def calls_since(self, number: str, since: float) -> int:
        """How many allowed calls of ``number`` are recorded after ``since``."""
        sql = "SELECT COUNT(*) FROM recent_calls WHERE number = ? AND ts > ?"
        with self._lock:
            return int(self._cursor.execute(sql, (number, since)).fetchone()[0])

    def callee_seen(self, number: str, callee: str, since: float) -> tuple[bool, int]:
        """Whether ``number`` called ``callee`` after ``since``, and how many distinct callees."""
        sql = (
            "SELECT COALESCE(MAX(callee = ?), 0), COUNT(DISTINCT callee) FROM recent_calls "
            "WHERE number = ? AND ts > ?"
        )
        with self._lock:
            seen, distinct = self._cursor.execute(sql, (callee, number, since)).fetchone()
        return bool(seen), int(distinct)

    def record_call(self, number: str, callee: str, at: float, keep: float) -> None:
        """Record an allowed call; rows older than the window are deleted, for every number."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO recent_calls VALUES (?, ?, ?)", (number, callee, at))
            conn.execute("DELETE FROM recent_calls WHERE ts <= ?", (at - keep,))

        self._tx(work)

    def record_outcome(self, number: str, *, short: bool, keep: int) -> tuple[int, int]:
        """Record an answered call's end; keep only the number's last ``keep`` outcomes."""

        def work(conn: sqlite3.Connection) -> tuple[int, int]:
            conn.execute("INSERT INTO outcomes (number, short) VALUES (?, ?)", (number, int(short)))
            conn.execute(
                "DELETE FROM outcomes WHERE number = ? AND seq NOT IN "
                "(SELECT seq FROM outcomes WHERE number = ? ORDER BY seq DESC LIMIT ?)",
                (number, number, keep),
            )
            row = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(short), 0) FROM outcomes WHERE number = ?", (number,)
            ).fetchone()
            return int(row[0]), int(row[1])

        return self._tx(work)

    # rules 1.1 section 3: inbound calls that are up.  A call that never reports its end
    # (a crash) is dropped a day after it started; forwards only look back forwarding_window.
    def inbound_started(self, call_id: str, caller: str, number: str, at: datetime) -> None:
        """Record an allowed inbound call that is being set up."""
        ts, stale = to_ts(at), to_ts(at - timedelta(days=1))

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO inbound_calls (call_id, caller, number, ts) "
                "VALUES (?, ?, ?, ?)",
                (call_id, caller, number, ts),
            )
            conn.execute("DELETE FROM inbound_calls WHERE ts < ?", (stale,))

        self._tx(work)

    def inbound_ended(self, call_id: str) -> None:
        """Forget an inbound call that ended."""
        with self._lock:
            self._cursor.execute("DELETE FROM inbound_calls WHERE call_id = ?", (call_id,))

    def inbound_up(self, caller: str, number: str, since: datetime) -> bool:
        """True when such a call started at ``since`` or later and has not ended."""
        with self._lock:
            row = self._cursor.execute(
                "SELECT 1 FROM inbound_calls WHERE caller = ? AND number = ? AND ts >= ? LIMIT 1",
                (caller, number, to_ts(since)),
            ).fetchone()
        return row is not None


def _add_sub_ns(conn: sqlite3.Connection) -> None:
    """Give a state file made before nanosecond violations its ``sub_ns`` column."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(violations)")}
    if "sub_ns" not in columns:
        conn.execute("ALTER TABLE violations ADD COLUMN sub_ns INTEGER NOT NULL DEFAULT 0")


def _suspension(row: tuple[str, str, str, str]) -> Suspension:
    return Suspension(row[0], datetime.fromisoformat(row[1]), row[2], row[3])
