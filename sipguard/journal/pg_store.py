"""The PostgreSQL journal: the same schema, chain, retention and queries as ``store``.

Invariants:
- One global chain for every node.  An append (and a purge) runs in one transaction that
  first takes the transaction-level advisory lock :data:`CHAIN_LOCK`, then reads the chain
  head, then inserts.  So nodes writing at once are serialised exactly where SQLite's
  ``BEGIN IMMEDIATE`` serialises processes: no two batches ever read the same head, no
  entry is chained twice, and ``seq`` (the primary key) has no gap but a purged prefix.
  The lock is released by the commit or rollback, also when a node dies mid-transaction
  (the server ends its session).
- A batch is acked only after ``COMMIT`` returned with ``synchronous_commit=on``: its WAL
  record is flushed on the database server (``durable=False``, the service's ``--sync
  normal``, sets it ``off``: a crash of the database server may then lose the last few
  acknowledged batches, as a power loss may with SQLite's ``NORMAL``).  A commit whose
  outcome is unknown (the connection broke during it) is reported as failed, never as
  stored.
- Connections come from a psycopg_pool pool: a connection broken by a database restart is
  discarded and replaced in the background, so the store recovers by itself.  Every
  driver failure leaves as :class:`JournalUnavailable` (error ``down`` when the database
  cannot be reached or the pool has no connection in ``timeout`` seconds, else ``db``).
- Reads run in one ``REPEATABLE READ`` snapshot each: ``verify`` sees the anchor and the
  entries of the same moment, whatever other nodes purge or append meanwhile.
- Rows are the record's :data:`COLUMNS`; the query side is ``query``'s, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from sipguard.journal import query
from sipguard.journal.entries import admin_entry, to_ts
from sipguard.journal.query import CallRow, EntryQuery, Query, RulesInForce, row_entry
from sipguard.journal.record import COLUMNS, GENESIS_HASH, INTEGER_COLUMNS, Entry
from sipguard.journal.store import VerifyResult, verify_chain
from sipguard.journal.writer import JournalUnavailable

__all__ = ["CHAIN_LOCK", "PgJournalStore", "redact"]

CHAIN_LOCK = 0x5_1F_6A_4D  # the advisory lock key that guards the chain head
_TYPES = {c: "BIGINT" if c in INTEGER_COLUMNS else "TEXT" for c in COLUMNS}
_DDL = (
    "CREATE TABLE IF NOT EXISTS entries ("
    + ", ".join("seq BIGINT PRIMARY KEY" if c == "seq" else f"{c} {_TYPES[c]}" for c in COLUMNS)
    + ")",
    "CREATE INDEX IF NOT EXISTS entries_ts ON entries(ts)",
    "CREATE INDEX IF NOT EXISTS entries_call ON entries(call_id)",
    "CREATE INDEX IF NOT EXISTS entries_number ON entries(number, ts)",
    "CREATE INDEX IF NOT EXISTS entries_caller ON entries(caller, ts)",
    "CREATE INDEX IF NOT EXISTS entries_callee ON entries(callee, ts)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_INSERT = f"INSERT INTO entries ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
_SET_META = (
    "INSERT INTO meta (key, value) VALUES (%s, %s) "
    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
)
T = TypeVar("T")


def redact(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


class _Qmark:
    """A connection that takes SQLite's ``?`` placeholders (for the shared query module)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._conn.execute(sql.replace("?", "%s"), parameters)


class PgJournalStore:
    """The journal in one PostgreSQL database, shared by every node (thread-safe)."""

    def __init__(
        self, url: str, *, timeout: float = 2.0, max_size: int = 4, durable: bool = True
    ) -> None:
        self.url = url
        self.path = redact(url)  # what messages name the journal by
        commit = "on" if durable else "off"  # off: like SQLite's NORMAL (``--sync normal``)
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_size, timeout=timeout, open=False,
            kwargs={"connect_timeout": max(1, int(timeout)), "autocommit": False,
                    "options": f"-c synchronous_commit={commit} -c statement_timeout=30s"},
            reconnect_timeout=0, name="sipguard-journal",
        )  # fmt: skip
        try:
            self._pool.open(wait=True, timeout=timeout * 5)
            self._run(_create_schema)
        except (PoolTimeout, JournalUnavailable) as exc:
            self._pool.close()
            problem = f"journal database {self.path} unreachable: {exc}"
            raise JournalUnavailable(problem, "down") from exc

    def close(self) -> None:
        """Close every connection of the pool."""
        self._pool.close()

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work`` in one transaction on a pooled connection; driver errors translated."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                return work(conn)
        except PoolTimeout as exc:
            raise JournalUnavailable(f"journal database {self.path}: {exc}", "down") from exc
        except psycopg.OperationalError as exc:
            raise JournalUnavailable(f"journal database {self.path}: {exc}", "down") from exc
        except psycopg.Error as exc:
            raise JournalUnavailable(f"journal database {self.path}: {exc}", "db") from exc

    def _read(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work`` in one read-only snapshot (see :meth:`_reading`)."""
        with self._reading() as conn:
            return work(conn)

    def append(self, entries: Sequence[Entry]) -> list[Entry]:
        """Chain and insert ``entries`` in one durable transaction; return them as stored."""
        return self._run(lambda conn: _append_locked(conn, entries))

    def anchor(self) -> tuple[int, str]:
        """(seq, hash) of the last purged entry; (0, genesis) before any purge."""
        return self._read(_anchor)

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry: the chain head an auditor quotes."""
        return self._read(_head)

    def count(self) -> int:
        """How many entries are stored."""
        return self._read(_count)

    def entries(self, since_seq: int = 0) -> Iterator[Entry]:
        """Every entry with ``seq > since_seq``, in chain order (read in pages)."""
        with self._reading() as conn:
            yield from _paged(conn, since_seq)

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A read-only transaction on one snapshot (so a purge elsewhere cannot tear it)."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise JournalUnavailable(f"journal database {self.path}: {exc}", "down") from exc
        except psycopg.Error as exc:
            raise JournalUnavailable(f"journal database {self.path}: {exc}", "db") from exc

    def calls(self, q: Query) -> list[CallRow]:
        """Calls matching ``q``, oldest first, each with its latest outcome (see query.py)."""
        return self._read(lambda conn: query.calls(_Qmark(conn), q))

    def select(self, q: EntryQuery) -> list[Entry]:
        """Entries of any kind matching ``q``, oldest first (see query.py)."""
        return self._read(lambda conn: query.select(_Qmark(conn), q))

    def rules_in_force(self, since: datetime, until: datetime) -> list[RulesInForce]:
        """The rules hashes that decided calls in ``[since, until)`` (see query.py)."""
        return self._read(lambda conn: query.rules_in_force(_Qmark(conn), since, until))

    def verify(self) -> VerifyResult:
        """Walk the one chain from the anchor, both read in one snapshot; report the first
        entry whose link is broken."""
        with self._reading() as conn:
            return verify_chain(_paged(conn, 0), _anchor(conn))

    def purge(self, now: datetime, retention_days: int) -> int:
        """Delete the chain prefix older than ``retention_days`` before ``now``; return count."""
        cutoff = to_ts(now - timedelta(days=retention_days))
        return self._run(lambda conn: _purge_locked(conn, now, cutoff))


async def reachable(url: str, timeout: float = 1.0) -> bool:
    """True if the database at ``url`` accepts a connection and answers a query."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(timeout)))
    except psycopg.Error:
        return False
    try:
        await conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    finally:
        await conn.close()
    return True


def _create_schema(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))  # one creator at a time
    for statement in _DDL:
        conn.execute(statement)


def _paged(conn: psycopg.Connection[Any], since_seq: int) -> Iterator[Entry]:
    """Entries after ``since_seq`` in chain order, fetched 5,000 at a time."""
    cur = conn.cursor(name="sipguard_entries")
    cur.itersize = 5000
    cur.execute(f"{query.SELECT} WHERE seq > %s ORDER BY seq", (since_seq,))
    for row in cur:
        yield row_entry(row)


def _anchor(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    return int(meta.get("anchor_seq", 0)), str(meta.get("anchor_hash", GENESIS_HASH))


def _head(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    return _anchor(conn)


def _append_locked(conn: psycopg.Connection[Any], entries: Sequence[Entry]) -> list[Entry]:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    seq, prev = _head(conn)
    stored: list[Entry] = []
    for entry in entries:
        seq += 1
        placed = entry.chained(seq, prev)
        prev = placed.hash or GENESIS_HASH
        stored.append(placed)
    with conn.cursor() as cur:
        cur.executemany(_INSERT, [e.row() for e in stored])
    return stored


def _purge_locked(conn: psycopg.Connection[Any], now: datetime, cutoff: int) -> int:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    young = conn.execute("SELECT MIN(seq) FROM entries WHERE ts >= %s", (cutoff,)).fetchone()
    head_seq, _ = _head(conn)
    end = int(young[0]) if young and young[0] is not None else head_seq + 1
    row = conn.execute(
        "SELECT seq, hash FROM entries WHERE seq < %s ORDER BY seq DESC LIMIT 1", (end,)
    ).fetchone()
    if row is None:
        return 0
    deleted = conn.execute("DELETE FROM entries WHERE seq < %s", (end,)).rowcount
    anchor_seq, anchor_hash = int(row[0]), str(row[1])
    with conn.cursor() as cur:
        cur.executemany(
            _SET_META, [("anchor_seq", str(anchor_seq)), ("anchor_hash", anchor_hash)]
        )
    detail = {"anchor_seq": anchor_seq, "anchor_hash": anchor_hash,
              "deleted": deleted, "cutoff_ts": cutoff}  # fmt: skip
    _append_locked(conn, [admin_entry("purge", now, detail=detail)])
    return int(deleted)



def _count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT COUNT(*) FROM entries").fetchone()
    return int(row[0]) if row is not None else 0
