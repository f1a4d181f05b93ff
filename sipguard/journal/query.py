"""The query side of the journal: filters, and the reads ``sipguard calls``, ``journal
entries`` and ``report`` make.

Invariants:
- Reads only; nothing here writes to the journal.
- Results are in time order (``ts``, then ``seq``); a ``limit`` keeps the *newest* rows.
- A call is its decision entry joined with the latest outcome entry of the same Call-ID
  that follows it in the chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sipguard.journal.entries import to_ts
from sipguard.journal.record import COLUMNS, Entry, Kind

SELECT = f"SELECT {', '.join(COLUMNS)} FROM entries"
CALL_FILTERS = (
    "number", "caller", "callee", "reason", "direction", "operator", "trunk", "verdict",
)  # fmt: skip


_IN = "CASE WHEN ts >= ? AND ts < ? THEN 1 ELSE 0 END"  # portable: no SUM over booleans


class Rows(Protocol):
    """What a query returns: SQLite's and psycopg's cursors both are this."""

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection taking ``?`` placeholders: sqlite3's, or the PostgreSQL store's adapter."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows: ...


def row_entry(row: Sequence[object]) -> Entry:
    """A stored row as an :class:`Entry`."""
    return Entry(**dict(zip(COLUMNS, row, strict=True)))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class CallRow:
    """One call attempt: its decision entry and, once it ended, its latest outcome entry."""

    decision: Entry
    outcome: Entry | None


# How the bounds of a window are held: as a client wrote them, or as times.
When = TypeVar("When", str, datetime)


@dataclass(frozen=True, slots=True)
class CallSelection(Generic[When]):
    """The filters of ``sipguard calls`` (and ``GET /calls``); ``None`` means "any"."""

    number: str | None = None
    caller: str | None = None
    callee: str | None = None
    reason: str | None = None
    direction: str | None = None
    operator: str | None = None
    trunk: str | None = None
    verdict: str | None = None
    since: When | None = None
    until: When | None = None
    limit: int | None = None
    monitored: bool = False  # only calls whose verdict names a monitored reason


@dataclass(frozen=True, slots=True)
class Query(CallSelection[datetime]):
    """What :meth:`JournalStore.calls` runs: numbers normalised, ``[since, until)`` as times."""


@dataclass(frozen=True, slots=True)
class EntryQuery:
    """Filters for :meth:`JournalStore.select`; ``None`` means "any"."""

    kind: str | None = None
    action: str | None = None
    number: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class RulesInForce:
    """One rules hash as the decisions record it: its first decision, its last in a period."""

    rules_hash: str
    first_ts: int
    last_ts: int
    decisions: int


def _where(
    filters: dict[str, object], since: datetime | None, until: datetime | None
) -> tuple[str, list[object]]:
    """A WHERE clause (and its arguments) of column equalities and a ``[since, until)`` range."""
    where: list[str] = []
    args: list[object] = []
    for col, value in filters.items():
        if value is not None:
            where.append(f"{col} = ?")
            args.append(value)
    if since is not None:
        where.append("ts >= ?")
        args.append(to_ts(since))
    if until is not None:
        where.append("ts < ?")
        args.append(to_ts(until))
    return " AND ".join(where) or "1 = 1", args


def _newest(sql: str, limit: int | None) -> str:
    """``sql`` in time order, keeping only the newest ``limit`` rows when a limit is given."""
    if limit is None:
        return f"{sql} ORDER BY ts, seq"
    newest = f"{sql} ORDER BY ts DESC, seq DESC LIMIT {int(limit)}"
    return f"SELECT * FROM ({newest}) AS newest ORDER BY ts, seq"


def calls(conn: Connection, q: Query) -> list[CallRow]:
    """Decision entries matching ``q`` in time order, each with its latest outcome.

    With ``q.limit`` only the newest ``limit`` decisions are kept (still oldest first).
    """
    filters: dict[str, object] = {"kind": Kind.DECISION.value}
    filters.update({col: getattr(q, col) for col in CALL_FILTERS})
    where, args = _where(filters, q.since, q.until)
    if q.monitored:
        where += " AND monitored IS NOT NULL"
    sql = _newest(f"{SELECT} WHERE {where}", q.limit)
    decisions = [row_entry(r) for r in conn.execute(sql, args)]
    return [CallRow(d, _outcome(conn, d)) for d in decisions]


def _outcome(conn: Connection, decision: Entry) -> Entry | None:
    row = conn.execute(
        f"{SELECT} WHERE call_id = ? AND kind = ? AND seq > ? ORDER BY seq DESC LIMIT 1",
        (decision.call_id, Kind.OUTCOME.value, decision.seq),
    ).fetchone()
    return row_entry(row) if row is not None else None


def select(conn: Connection, q: EntryQuery) -> list[Entry]:
    """Entries of any kind matching ``q`` in time order (the newest ``limit`` with a limit)."""
    filters: dict[str, object] = {"kind": q.kind, "action": q.action, "number": q.number}
    where, args = _where(filters, q.since, q.until)
    sql = _newest(f"{SELECT} WHERE {where}", q.limit)
    return [row_entry(r) for r in conn.execute(sql, args)]


def rules_in_force(
    conn: Connection, since: datetime, until: datetime
) -> list[RulesInForce]:
    """Every rules hash that decided a call in ``[since, until)``, oldest first.

    ``first_ts`` is the first decision under the hash in the whole journal (when it was
    loaded, as far as the records show); ``last_ts`` the last one in the period, and
    ``decisions`` counts those of the period.
    """
    sql = (
        "SELECT rules_hash, MIN(ts), MAX(CASE WHEN ts >= ? AND ts < ? THEN ts END), "
        f"SUM({_IN}) FROM entries "
        "WHERE kind = ? AND rules_hash IS NOT NULL GROUP BY rules_hash "
        f"HAVING SUM({_IN}) > 0 ORDER BY MIN(ts)"
    )
    lo, hi = to_ts(since), to_ts(until)
    rows = conn.execute(sql, (lo, hi, lo, hi, Kind.DECISION.value, lo, hi)).fetchall()
    return [RulesInForce(str(h), int(a), int(b), int(n)) for h, a, b, n in rows]
