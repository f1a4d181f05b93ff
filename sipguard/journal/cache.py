"""CachedState: the policy State in memory, loaded from the state file, writing behind.

Invariants:
- Semantics are :class:`sipguard.journal.state.SqliteState`'s (and so MemoryState's): the
  same counts, the same violation window ``(at - window, at]``, idempotent suspend.
- With ``persist=True`` every mutation also appends the SQL that makes the state file say
  the same (absolute values: a count is written as its new total, never lowering the
  file's), taken with :meth:`drain` and committed by the journal service in its group
  commit, in order.  Text in that SQL is made safe as the journal's is (``safe_text``).
- Only recent days' counts are kept in memory (:data:`COUNT_DAYS`): a cap is always on the
  caller's current local day, and older days stay in the file for nobody to ask.
- The behavioural windows (calls per minute, distinct callees per hour, recent short calls)
  are held in memory only, bounded as :class:`~sipguard.policy.state.MemoryState` bounds
  them: they span at most an hour, so a restart loses at most that much of them.  The
  inbound calls that are up (rules 1.1 section 3, for verifying forwards) are held there
  too: a forward comes within ``forwarding_window`` of its inbound call.
- State ops travel the wire as ``[name, *args]``; :func:`encode_op` and :func:`apply_op`
  are the two ends, and :data:`OPS` names every op a client may send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sipguard.journal.entries import safe_text, to_ts
from sipguard.journal.wire import Wire
from sipguard.policy.state import MemoryState, Suspension

Statement = tuple[str, tuple[Any, ...]]
MAX_BACKLOG = 100_000  # state statements kept while the state file cannot be written
COUNT_DAYS = 3  # days of counts held in memory, today (UTC) included, for every time zone
_UPSERT = (
    "INSERT INTO call_counts (operator, callee, day, n) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (operator, callee, day) DO UPDATE SET n = MAX(n, excluded.n)"
)
# Argument codes: s text, o int or None, D date, T datetime, W timedelta (seconds),
# f float, i int, b bool.
OPS: dict[str, str] = {
    "take_call_slot": "ssDo",
    "calls_on": "ssD",
    "add_violation": "sTW",
    "suspension": "s",
    "suspend": "sTss",
    "resume": "s",
    "suspensions": "",
    "calls_since": "sf",
    "callee_seen": "ssf",
    "record_call": "ssff",
    "record_outcome": "sbi",
    "inbound_started": "sssT",
    "inbound_ended": "s",
    "inbound_up": "ssT",
}
# Ops whose last arguments a State takes by keyword (flags and their companions).
KEYWORDS: dict[str, tuple[str, ...]] = {"record_outcome": ("short", "keep")}
MUTATIONS = frozenset({"take_call_slot", "add_violation", "suspend", "resume"})
_ENCODE: dict[str, Callable[[Any], Any]] = {
    "s": str,
    "o": lambda v: v,
    "D": lambda v: v.isoformat(),
    "T": lambda v: v.isoformat(),
    "W": lambda v: v.total_seconds(),
    "f": float,
    "i": int,
    "b": bool,
}
_DECODE: dict[str, Callable[[Any], Any]] = {
    "s": str,
    "o": lambda v: None if v is None else int(v),
    "D": date.fromisoformat,
    "T": datetime.fromisoformat,
    "W": lambda v: timedelta(seconds=float(v)),
    "f": float,
    "i": int,
    "b": bool,
}


def count_floor(now: datetime) -> date:
    """The first day whose counts are held in memory at ``now``."""
    return now.astimezone(UTC).date() - timedelta(days=COUNT_DAYS - 1)


class CachedState:
    """Implements :class:`sipguard.policy.state.State` in memory."""

    def __init__(self, *, persist: bool = False) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        self.violations: dict[str, list[int]] = {}
        self.suspended: dict[str, Suspension] = {}
        self.windows = MemoryState()  # the behavioural windows, memory only (see above)
        self._log: list[Statement] | None = [] if persist else None
        self._floor = date.min

    def _write(self, sql: str, *args: object) -> None:
        if self._log is not None:
            self._log.append((sql, tuple(safe_text(a) if isinstance(a, str) else a for a in args)))

    def requeue(self, statements: list[Statement]) -> int:
        """Put statements that could not be committed back in front (at most
        :data:`MAX_BACKLOG` are kept); return how many were dropped."""
        if self._log is None:
            return 0
        backlog = statements + self._log
        dropped = max(0, len(backlog) - MAX_BACKLOG)
        self._log = backlog[dropped:]
        return dropped

    @property
    def dirty(self) -> bool:
        """True while there are mutations not yet drained."""
        return bool(self._log)

    def drain(self) -> list[Statement]:
        """The SQL of every mutation since the last drain, in order."""
        if self._log is None:
            return []
        out, self._log = self._log, []
        return out

    def forget_counts_before(self, day: date) -> int:
        """Drop counts of days before ``day`` from memory (the file keeps them); a no-op
        unless ``day`` moved on since the last call."""
        if day <= self._floor:
            return 0
        self._floor = day
        floor = day.isoformat()
        old = [key for key in self.counts if key[2] < floor]
        for key in old:
            del self.counts[key]
        return len(old)

    def take_call_slot(self, operator: str, callee: str, day: date, limit: int | None) -> bool:
        key = (operator, callee, day.isoformat())
        n = self.counts.get(key, 0)
        if limit is not None and n >= limit:
            return False
        self.counts[key] = n + 1
        self._write(_UPSERT, *key, n + 1)
        return True

    def calls_on(self, operator: str, callee: str, day: date) -> int:
        return self.counts.get((operator, callee, day.isoformat()), 0)

    def add_violation(self, number: str, at: datetime, window: timedelta) -> int:
        now, floor = to_ts(at), to_ts(at - window)
        times = [t for t in self.violations.get(number, ()) if t > floor]
        times.append(now)
        self.violations[number] = times
        self._write("INSERT INTO violations (number, ts) VALUES (?, ?)", number, now)
        self._write("DELETE FROM violations WHERE number = ? AND ts <= ?", number, floor)
        return sum(1 for t in times if t <= now)

    def suspension(self, number: str) -> Suspension | None:
        return self.suspended.get(number)

    def suspend(self, number: str, since: datetime, reason: str, by: str) -> None:
        if number in self.suspended:
            return
        self.suspended[number] = Suspension(number, since, reason, by)
        self._write(
            "INSERT OR IGNORE INTO suspensions (number, since, reason, by) VALUES (?,?,?,?)",
            number,
            since.isoformat(),
            reason,
            by,
        )

    def resume(self, number: str) -> bool:
        self.violations.pop(number, None)
        self._write("DELETE FROM violations WHERE number = ?", number)
        self._write("DELETE FROM suspensions WHERE number = ?", number)
        return self.suspended.pop(number, None) is not None

    def suspensions(self) -> list[Suspension]:
        return sorted(self.suspended.values(), key=lambda s: (s.since, s.number))

    def calls_since(self, number: str, since: float) -> int:
        return self.windows.calls_since(number, since)

    def callee_seen(self, number: str, callee: str, since: float) -> tuple[bool, int]:
        return self.windows.callee_seen(number, callee, since)

    def record_call(self, number: str, callee: str, at: float, keep: float) -> None:
        self.windows.record_call(number, callee, at, keep)

    def record_outcome(self, number: str, *, short: bool, keep: int) -> tuple[int, int]:
        return self.windows.record_outcome(number, short=short, keep=keep)

    def inbound_started(self, call_id: str, caller: str, number: str, at: datetime) -> None:
        self.windows.inbound_started(call_id, caller, number, at)

    def inbound_ended(self, call_id: str) -> None:
        self.windows.inbound_ended(call_id)

    def inbound_up(self, caller: str, number: str, since: datetime) -> bool:
        return self.windows.inbound_up(caller, number, since)


def encode_op(name: str, *args: object) -> list[Wire]:
    """A state op as it travels: ``[name, *args]`` with dates and times as text."""
    codes = OPS[name]
    return [name, *(_ENCODE[c](a) for c, a in zip(codes, args, strict=True))]


def apply_op(state: object, op: list[Wire]) -> Wire:
    """Run a wire state op on ``state``; the result as it travels (ValueError if malformed)."""
    if not op or op[0] not in OPS:
        raise ValueError(f"unknown state op {op[:1]!r}")
    name, codes = op[0], OPS[op[0]]
    if len(op) - 1 != len(codes):
        raise ValueError(f"state op {name} takes {len(codes)} arguments")
    try:
        args = [_DECODE[c](a) for c, a in zip(codes, op[1:], strict=True)]
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"bad arguments to {name}: {exc}") from exc
    keywords = KEYWORDS.get(name, ())
    given = len(args) - len(keywords)
    named = dict(zip(keywords, args[given:], strict=True))
    result = getattr(state, name)(*args[:given], **named)
    if isinstance(result, Suspension):
        one: list[Wire] = list(suspension_out(result))
        return one
    if isinstance(result, list):
        many: list[Wire] = [list(suspension_out(s)) for s in result]
        return many
    if isinstance(result, tuple):  # callee_seen's, record_outcome's pair: a list, as Wire says
        pair: list[Wire] = list(result)
        return pair
    plain: Wire = result  # the ops' other results are JSON scalars
    return plain


def suspension_out(s: Suspension) -> list[str]:
    """A suspension as it travels."""
    return [s.number, s.since.isoformat(), s.reason, s.by]


def suspension_in(raw: list[str]) -> Suspension:
    """A suspension from the wire."""
    return Suspension(raw[0], datetime.fromisoformat(raw[1]), raw[2], raw[3])
