"""A report as a format-neutral document: sections of sentences, tables and charts.

The HTML, PDF and CSV renderers all render this one document, so they cannot disagree on
a figure.  Every time is printed in the rules' timezone with its offset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sipguard.policy.facts import Reason
from sipguard.report import charts
from sipguard.report.data import Report, local

ALLOWED = Reason.ALLOWED.value


@dataclass(frozen=True, slots=True)
class Table:
    """A table with a header row; ``key`` names it in the CSV output."""

    key: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Chart:
    """A PNG chart and the words that describe it."""

    key: str
    alt: str
    png: bytes


@dataclass(frozen=True, slots=True)
class Section:
    """A titled part of the report."""

    title: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    chart: Chart | None = None


def when(at: datetime) -> str:
    """A time as the report prints it: ``2026-06-02 10:00:00+08:00``."""
    return at.isoformat(sep=" ", timespec="seconds")


def _counts(key: str, what: str, counter: Counter[str]) -> Table:
    rows = [(name, str(n)) for name, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]
    return Table(key, (what, "refusals"), rows)


def build(report: Report, zone: tzinfo, generated: datetime) -> list[Section]:
    """The sections of ``report``, in reading order."""
    return [
        _summary(report, generated),
        _daily(report),
        _refusals(report),
        _actions(report),
        _consent(report),
        _hourly(report),
        _rules(report, zone),
        _chain(report),
    ]


def _summary(r: Report, generated: datetime) -> Section:
    scope = f"operator {r.operator}" if r.operator else "all operators"
    return Section(
        "Summary",
        [
            f"Period: {when(r.since)} to {when(r.until)} (end excluded), {scope}.",
            f"Times are in the rules' timezone, {r.zone_name}. Generated {when(generated)}.",
            f"{r.calls} calls: {r.allowed} allowed, {r.refused} refused.",
        ],
        [
            Table(
                "summary",
                ("figure", "value"),
                [
                    ("calls", str(r.calls)),
                    ("allowed", str(r.allowed)),
                    ("refused", str(r.refused)),
                ],
            )
        ],
    )


def _daily(r: Report) -> Section:
    days = sorted(r.per_day.items())
    totals = [
        (day.isoformat(), str(sum(c.values())), str(c[ALLOWED]), str(sum(c.values()) - c[ALLOWED]))
        for day, c in days
    ]
    by_reason = [
        (day.isoformat(), x.value, str(c[x.value])) for day, c in days for x in Reason if c[x.value]
    ]
    chart = Chart(
        "per_day", "Calls and decisions per day, stacked by reason", charts.daily(r.per_day)
    )
    return Section(
        "Calls and decisions per day",
        [],
        [
            Table("per_day", ("day", "calls", "allowed", "refused"), totals),
            Table("per_day_by_reason", ("day", "reason", "calls"), by_reason),
        ],
        chart,
    )


def _refusals(r: Report) -> Section:
    top = Table("top_numbers", ("number", "refusals"), [(n, str(c)) for n, c in r.top_numbers])
    return Section(
        "Refusals by operator, trunk and number",
        [
            f"{r.refused} refused calls. Top violating numbers: the {len(r.top_numbers)} numbers "
            "with the most refused calls."
        ],
        [
            _counts("refused_by_operator", "operator", r.by_operator),
            _counts("refused_by_trunk", "trunk", r.by_trunk),
            _counts("refused_by_number", "number", r.by_number),
            top,
        ],
    )


def _actions(r: Report) -> Section:
    rows = [(when(a.at), a.action, a.number, a.by, a.why) for a in r.actions]
    return Section(
        "Suspensions and resumes",
        [f"{len(rows)} suspensions and resumes in the period, automatic and by operators."],
        [Table("actions", ("time", "action", "number", "by", "why"), rows)],
    )


def _consent(r: Report) -> Section:
    total = len(r.consented)
    share = f"{100 * r.covered / total:.1f}%" if total else "n/a"
    rows = [(when(c.at), c.caller, c.callee, c.credential or "NONE") for c in r.consented]
    return Section(
        "Consent coverage of allowed outbound calls",
        [f"{r.covered} of {total} allowed outbound calls carry a consent credential ({share})."],
        [Table("consent", ("time", "caller", "callee", "credential"), rows)],
    )


def _hourly(r: Report) -> Section:
    rows = [
        (f"{h:02d}:00", *(str(r.time_refusals[x][h]) for x in r.time_refusals)) for h in range(24)
    ]
    table = Table("time_refusals_by_hour", ("hour", *r.time_refusals), rows)
    chart = Chart(
        "by_hour",
        "Quiet-hours and frequency refusals by hour of the day",
        charts.hourly(r.time_refusals),
    )
    return Section("Quiet-hours and frequency refusals by hour", [], [table], chart)


def _rules(r: Report, zone: tzinfo) -> Section:
    rows = [
        (
            x.rules_hash,
            when(local(x.first_ts, zone)),
            when(local(x.last_ts, zone)),
            str(x.decisions),
        )
        for x in r.rules
    ]
    return Section(
        "Rules in force",
        [
            "Each rules hash (sha256 of the rules and consents files) that decided calls in the "
            "period, with its first decision in the journal (when it was loaded, as recorded)."
        ],
        [
            Table(
                "rules",
                ("rules hash", "first decision (loaded)", "last in period", "decisions in period"),
                rows,
            )
        ],
    )


def _chain(r: Report) -> Section:
    c = r.chain
    status = "intact" if c.ok else f"BROKEN: {c.problem}"
    return Section(
        "Journal chain",
        [f"Hash chain {status}; {c.checked} entries checked; head entry {c.head_seq}."],
        [
            Table(
                "chain",
                ("figure", "value"),
                [
                    ("status", "intact" if c.ok else "broken"),
                    ("entries checked", str(c.checked)),
                    ("head entry", str(c.head_seq)),
                    ("head hash", c.head_hash),
                ],
            )
        ],
    )
