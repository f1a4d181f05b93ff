"""The SQLite journal: schema, appends, retention and chain verification (queries: query.py).

Invariants:
- Appends run in one ``BEGIN IMMEDIATE`` transaction that reads the chain head inside the
  write lock, so several processes (the server, ``numbers suspend``, ``journal purge``) can
  append to one file and the chain stays linear.  :meth:`JournalStore.append_bodies` (the journal
  service's) stores exactly what :meth:`JournalStore.append` would, without building an
  entry per record.
- The database runs in WAL mode; the journal connection uses ``synchronous=FULL`` so a
  committed batch survives power loss, not only a crash of the process.
- Retention deletes only a *prefix* of the chain: every entry below the first entry that is
  not older than the cutoff.  So nothing younger than ``retention_days`` is ever deleted
  (an old entry that follows a younger one waits for a later purge).  The hash of the last
  deleted entry is kept as the anchor in ``meta`` and is also written into the chain by the
  ``purge`` admin entry, so ``verify`` still checks the whole surviving chain.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sipguard.journal import query
from sipguard.journal.entries import admin_entry, to_ts
from sipguard.journal.query import CallRow, EntryQuery, Query, RulesInForce
from sipguard.journal.record import COLUMNS, GENESIS_HASH, Entry, Kind, body_hash

__all__ = ["CallRow", "EntryQuery", "JournalStore", "Query", "RulesInForce", "VerifyResult"]

_DDL = f"""
CREATE TABLE IF NOT EXISTS entries (
    {", ".join(("seq INTEGER PRIMARY KEY", *tuple(c for c in COLUMNS if c != "seq")))}
);
CREATE INDEX IF NOT EXISTS entries_ts ON entries(ts);
CREATE INDEX IF NOT EXISTS entries_call ON entries(call_id);
CREATE INDEX IF NOT EXISTS entries_number ON entries(number, ts);
CREATE INDEX IF NOT EXISTS entries_caller ON entries(caller, ts);
CREATE INDEX IF NOT EXISTS entries_callee ON entries(callee, ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_INSERT = f"INSERT INTO entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM entries"
Link = tuple[int, str, str]  # an appended entry's seq, prev_hash and hash


def connect(
    path: str | Path, *, synchronous: str = "FULL", busy_ms: int = 2000
) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with explicit transactions; create the schema if needed."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.executescript(_DDL)
    have = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
    if "monitored" not in have:  # a journal written before monitor mode
        conn.execute("ALTER TABLE entries ADD COLUMN monitored TEXT")
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction: committed when the block ends, else rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _row_entry(row: Sequence[object]) -> Entry:
    return Entry(**dict(zip(COLUMNS, row, strict=True)))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking the chain; ``broken_seq`` is the first bad entry, if any."""

    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""


class JournalStore:
    """Blocking access to one journal file (one connection; use from one thread at a time)."""

    def __init__(self, path: str | Path, *, busy_ms: int = 2000, max_page_count: int | None = None):
        self.path = Path(path)
        self.conn = connect(path, busy_ms=busy_ms)
        if max_page_count is not None:
            # A size quota: SQLite then fails writes with SQLITE_FULL, exactly like a full disk.
            self.conn.execute(f"PRAGMA max_page_count={int(max_page_count)}")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def append(self, entries: Sequence[Entry]) -> list[Entry]:
        """Chain and insert ``entries`` in one durable transaction; return them as stored."""
        with immediate(self.conn):
            return self._append_locked(entries)

    def append_bodies(self, bodies: Sequence[Sequence[Any]]) -> list[Link]:
        """:meth:`append` for entries given as their bodies (each entry's fields before
        ``seq``, as checked by :func:`~sipguard.journal.record.checked_body`), without
        building an entry for each: the ``(seq, prev_hash, hash)`` of each, in order."""
        with immediate(self.conn):
            seq, prev = self._head()
            rows, links = [], []
            for body in bodies:
                seq += 1
                digest = body_hash(body, seq, prev)
                rows.append((*body, seq, prev, digest))
                links.append((seq, prev, digest))
                prev = digest
            self.conn.executemany(_INSERT, rows)
        return links

    def _append_locked(self, entries: Sequence[Entry]) -> list[Entry]:
        seq, prev = self._head()
        stored: list[Entry] = []
        for entry in entries:
            seq += 1
            placed = entry.chained(seq, prev)
            prev = placed.hash or GENESIS_HASH
            stored.append(placed)
        self.conn.executemany(_INSERT, [e.row() for e in stored])
        return stored

    def _head(self) -> tuple[int, str]:
        row = self.conn.execute(
            "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        return self.anchor()

    def anchor(self) -> tuple[int, str]:
        """(seq, hash) of the last purged entry; (0, genesis) before any purge."""
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        return int(meta.get("anchor_seq", 0)), str(meta.get("anchor_hash", GENESIS_HASH))

    def entries(self, since_seq: int = 0) -> Iterator[Entry]:
        """Every entry with ``seq > since_seq``, in chain order."""
        cur = self.conn.execute(f"{_SELECT} WHERE seq > ? ORDER BY seq", (since_seq,))
        for row in cur:
            yield _row_entry(row)

    def count(self) -> int:
        """How many entries are stored."""
        return int(self.conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    # The query side lives in journal/query.py; these are its entry points on a store.

    def calls(self, q: Query) -> list[CallRow]:
        """Calls matching ``q``, oldest first, each with its latest outcome (see query.py)."""
        return query.calls(self.conn, q)

    def select(self, q: EntryQuery) -> list[Entry]:
        """Entries of any kind matching ``q``, oldest first (see query.py)."""
        return query.select(self.conn, q)

    def rules_in_force(self, since: datetime, until: datetime) -> list[RulesInForce]:
        """The rules hashes that decided calls in ``[since, until)`` (see query.py)."""
        return query.rules_in_force(self.conn, since, until)

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry: the chain head an auditor quotes."""
        return self._head()

    def verify(self) -> VerifyResult:
        """Walk the chain from the anchor; report the first entry whose link is broken."""
        return verify_chain(self.entries(), self.anchor())

    def purge(self, now: datetime, retention_days: int) -> int:
        """Delete the chain prefix older than ``retention_days`` before ``now``; return count."""
        cutoff = to_ts(now - timedelta(days=retention_days))
        with immediate(self.conn):
            return self._purge_locked(now, cutoff)

    def _purge_locked(self, now: datetime, cutoff: int) -> int:
        first_young = self.conn.execute("SELECT MIN(seq) FROM entries WHERE ts >= ?", (cutoff,))
        young = first_young.fetchone()[0]
        head_seq, _ = self._head()
        end = int(young) if young is not None else head_seq + 1
        last = self.conn.execute(
            "SELECT seq, hash FROM entries WHERE seq < ? ORDER BY seq DESC LIMIT 1", (end,)
        )
        row = last.fetchone()
        if row is None:
            return 0
        deleted = self.conn.execute("DELETE FROM entries WHERE seq < ?", (end,)).rowcount
        anchor_seq, anchor_hash = int(row[0]), str(row[1])
        self.conn.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [("anchor_seq", str(anchor_seq)), ("anchor_hash", anchor_hash)],
        )
        detail = {
            "anchor_seq": anchor_seq,
            "anchor_hash": anchor_hash,
            "deleted": deleted,
            "cutoff_ts": cutoff,
        }
        self._append_locked([admin_entry("purge", now, detail=detail)])
        return int(deleted)


def verify_chain(entries: Iterable[Entry], anchor: tuple[int, str]) -> VerifyResult:
    """Walk ``entries`` (in chain order) from ``anchor``, the (seq, hash) of the last purged
    entry; the first entry whose link is broken is reported (every store verifies so)."""
    anchor_seq, prev = anchor
    expected, checked, last_purge = anchor_seq + 1, 0, None
    for entry in entries:
        problem = _link_problem(entry, expected, prev)
        if problem:
            return VerifyResult(ok=False, checked=checked, broken_seq=entry.seq, problem=problem)
        if entry.kind == Kind.ADMIN.value and entry.action == "purge":
            last_purge = entry
        prev, expected, checked = entry.hash or "", expected + 1, checked + 1
    if anchor_seq and not _anchor_recorded(last_purge, anchor_seq, anchor[1]):
        problem = "anchor not recorded by a purge entry"
        return VerifyResult(ok=False, checked=checked, broken_seq=anchor_seq, problem=problem)
    return VerifyResult(ok=True, checked=checked)


def _link_problem(entry: Entry, expected_seq: int, prev: str) -> str:
    if entry.seq != expected_seq:
        return f"expected entry {expected_seq}, found {entry.seq} (entries missing)"
    if entry.prev_hash != prev:
        return "prev_hash does not match the previous entry"
    if entry.chained(expected_seq, prev).hash != entry.hash:
        return "entry content does not match its hash"
    return ""


def _anchor_recorded(purge: Entry | None, anchor_seq: int, anchor_hash: str) -> bool:
    if purge is None or purge.detail is None:
        return False
    detail = json.loads(purge.detail)
    return bool(detail.get("anchor_seq") == anchor_seq and detail.get("anchor_hash") == anchor_hash)
