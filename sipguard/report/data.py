"""The figures of a compliance report, gathered from the journal over ``[since, until)``.

Invariants:
- The calls are exactly those ``sipguard calls --since --until [--operator]`` lists
  (one ``store.calls`` query), so every count here can be checked against that command.
- Every day and hour is a calendar day and hour of the day in the rules' timezone.
- Operator actions are the ``admin`` suspend/resume entries of the period; automatic
  suspensions are the decisions with ``suspended_now`` set.  With ``--operator`` both keep
  only numbers filed for that operator.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from sipguard.journal.backends import Store as JournalStore  # SQLite or PostgreSQL
from sipguard.journal.record import Entry
from sipguard.journal.store import CallRow, EntryQuery, Query, RulesInForce

TIME_REASONS = ("QUIET_HOURS", "FREQUENCY_CAP")
TOP = 10
ALL_DAYS = 92
UNFILED = "(no filed number)"
UNKNOWN = "(none)"
_AUTO = "automatic: this {} refusal reached the violation count"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Action:
    """One suspension or resume: automatic (by ``sipguard``) or an operator's."""

    at: datetime
    action: str
    number: str
    by: str
    why: str


@dataclass(frozen=True, slots=True)
class Consented:
    """One allowed outbound call and the consent credential it was allowed on."""

    at: datetime
    caller: str
    callee: str
    credential: str | None


@dataclass(frozen=True, slots=True)
class Chain:
    """The journal's hash-chain status when the report was made."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problem: str


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a compliance report shows."""

    since: datetime
    until: datetime
    zone_name: str
    operator: str | None
    calls: int
    allowed: int
    refused: int
    per_day: dict[date, Counter[str]]
    by_operator: Counter[str]
    by_trunk: Counter[str]
    by_number: Counter[str]
    top_numbers: list[tuple[str, int]]
    actions: list[Action]
    consented: list[Consented]
    time_refusals: dict[str, Counter[int]]
    rules: list[RulesInForce]
    chain: Chain

    @property
    def covered(self) -> int:
        """Allowed outbound calls that carry a consent credential."""
        return sum(1 for c in self.consented if c.credential)


def gather(
    store: JournalStore,
    since: datetime,
    until: datetime,
    zone: tzinfo,
    zone_name: str,
    operator: str | None = None,
    numbers: frozenset[str] | None = None,
) -> Report:
    """The report of ``[since, until)``; ``numbers`` are the operator's filed numbers."""
    rows = store.calls(Query(operator=operator, since=since, until=until))
    refused = [r.decision for r in rows if r.decision.verdict != "allow"]
    by_number = Counter(d.number or UNFILED for d in refused)
    return Report(
        since=since.astimezone(zone),
        until=until.astimezone(zone),
        zone_name=zone_name,
        operator=operator,
        calls=len(rows),
        allowed=len(rows) - len(refused),
        refused=len(refused),
        per_day=_per_day(rows, since, until, zone),
        by_operator=Counter(d.operator or UNKNOWN for d in refused),
        by_trunk=Counter(d.trunk or UNKNOWN for d in refused),
        by_number=by_number,
        top_numbers=[(n, c) for n, c in by_number.most_common() if n != UNFILED][:TOP],
        actions=_actions(store, rows, since, until, zone, numbers),
        consented=_consented(rows, zone),
        time_refusals=_by_hour(refused, zone),
        rules=store.rules_in_force(since, until),
        chain=_chain(store),
    )


def local(ts: int, zone: tzinfo) -> datetime:
    """A journal ``ts`` (microseconds since the epoch) in ``zone``."""
    return (_EPOCH + timedelta(microseconds=ts)).astimezone(zone)


def _per_day(
    rows: list[CallRow], since: datetime, until: datetime, zone: tzinfo
) -> dict[date, Counter[str]]:
    """Calls per local day by reason.

    Every day of a period of up to :data:`ALL_DAYS` days is present, empty or not; a longer
    period lists only the days with calls, so a year's report stays readable.
    """
    days: dict[date, Counter[str]] = {}
    day = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    if (last - day).days < ALL_DAYS:
        while day <= last:
            days[day] = Counter()
            day += timedelta(days=1)
    for row in rows:
        when = local(row.decision.ts, zone).date()
        days.setdefault(when, Counter())[row.decision.reason or "-"] += 1
    return dict(sorted(days.items()))


def _by_hour(refused: list[Entry], zone: tzinfo) -> dict[str, Counter[int]]:
    """Quiet-hours and frequency-cap refusals by local hour of the day."""
    hours: dict[str, Counter[int]] = {reason: Counter() for reason in TIME_REASONS}
    for d in refused:
        if d.reason in hours:
            hours[d.reason][local(d.ts, zone).hour] += 1
    return hours


def _consented(rows: list[CallRow], zone: tzinfo) -> list[Consented]:
    """Every allowed outbound call with its credential."""
    return [
        Consented(local(d.ts, zone), d.caller or "-", d.callee or "-", d.credential)
        for d in (r.decision for r in rows)
        if d.verdict == "allow" and d.direction == "outbound"
    ]


def _actions(
    store: JournalStore,
    rows: list[CallRow],
    since: datetime,
    until: datetime,
    zone: tzinfo,
    numbers: frozenset[str] | None,
) -> list[Action]:
    """Operator suspends and resumes of the period, and the automatic suspensions."""
    found = [
        Action(local(d.ts, zone), "suspend", d.number or "-", "sipguard", _AUTO.format(d.reason))
        for d in (r.decision for r in rows)
        if d.suspended_now
    ]
    for action in ("suspend", "resume"):
        for e in store.select(EntryQuery(kind="admin", action=action, since=since, until=until)):
            if numbers is not None and e.number not in numbers:
                continue
            detail = json.loads(e.detail) if e.detail else {}
            by, why = str(detail.get("by", "-")), str(detail.get("why", "-"))
            found.append(Action(local(e.ts, zone), action, e.number or "-", by, why))
    return sorted(found, key=lambda a: a.at)


def _chain(store: JournalStore) -> Chain:
    result = store.verify()
    seq, head = store.head()
    return Chain(result.ok, result.checked, seq, head, result.problem)
