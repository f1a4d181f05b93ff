"""The journal entries of calls and of operators, built from what the call core reports.

Invariants:
- An allowed call that ends gives one outcome entry, built from its ``CallEnded``;
  suspend, resume and purge give admin entries; decisions are described in
  ``sipguard.journal.record``.
- Text from the wire may hold bytes that are not UTF-8, kept by the parser as surrogate
  escapes.  The builders here are the one place that makes such text safe
  (:func:`safe_text`), so every entry they build encodes, hashes and stores.
- A time without a zone is refused (:func:`to_ts`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sipguard.journal.record import Entry, Kind
from sipguard.policy.facts import CallFacts, Verdict


def safe_text(text: str) -> str:
    """``text`` unchanged if it encodes as UTF-8; else with surrogates escaped visibly.

    A raw byte the parser kept as a surrogate escape (``\\udcff``) becomes ``\\xff``;
    any other lone surrogate becomes ``\\udXXX``.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape" if _escaped_only(text) else "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")
    return text


def _escaped_only(text: str) -> bool:
    return all(not 0xD800 <= ord(c) < 0xDC80 and not 0xDD00 <= ord(c) <= 0xDFFF for c in text)


def _safe(entry: Entry) -> Entry:
    """``entry``, or a copy whose text fields are all safe to encode (see :func:`safe_text`).

    Every builder below hands its entry through here; an entry of ASCII text (nearly all)
    is kept as it is.
    """
    row = entry.row()
    if all(v.isascii() for v in row if isinstance(v, str)):
        return entry
    safe: list[Any] = [safe_text(v) if isinstance(v, str) else v for v in row]
    return Entry(*safe)


def to_ts(at: datetime) -> int:
    """Integer microseconds since the epoch of an aware datetime."""
    if at.tzinfo is None:
        raise ValueError("journal times must be timezone-aware")
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _source(facts: CallFacts) -> str:
    return _hostport(facts.source_ip, facts.source_port)


def _hostport(ip: str, port: int | None) -> str:
    if port is None:
        return ip
    if ":" in ip:
        return f"[{ip}]:{port}"
    return f"{ip}:{port}"


def decision_entry(
    facts: CallFacts,
    verdict: Verdict,
    at: datetime,
    *,
    legs: tuple[str, ...] = (),
    rules_hash: str | None = None,
) -> Entry:
    """The decision entry of one call attempt; ``at`` is the INVITE's arrival time."""
    return _safe(
        Entry(
            kind=Kind.DECISION.value,
            ts=to_ts(at),
            at=at.isoformat(),
            call_id=facts.call_id,
            legs=" ".join(legs) or None,
            direction=verdict.direction.value if verdict.direction else None,
            source=_source(facts),
            trunk=verdict.trunk,
            operator=verdict.operator,
            caller=verdict.caller,
            callee=verdict.callee,
            number=verdict.number,
            verdict=verdict.verdict,
            status=verdict.status,
            reason=verdict.reason.value,
            credential=verdict.credential,
            suspended_now=int(verdict.suspended_now),
            monitored=verdict.monitored.value if verdict.monitored else None,
            rules_hash=rules_hash,
        )
    )


def malformed_entry(
    source_ip: str,
    source_port: int | None,
    at: datetime,
    *,
    status: int,
    error: str,
    call_id: str | None = None,
    direction: str | None = None,
    trunk: str | None = None,
    rules_hash: str | None = None,
) -> Entry:
    """The decision entry of an INVITE refused as malformed (reason ``MALFORMED``)."""
    return _safe(
        Entry(
            kind=Kind.DECISION.value,
            ts=to_ts(at),
            at=at.isoformat(),
            call_id=call_id,
            direction=direction,
            source=_hostport(source_ip, source_port),
            trunk=trunk,
            verdict="reject",
            status=status,
            reason="MALFORMED",
            rules_hash=rules_hash,
            detail=json.dumps(
                {"error": safe_text(error)}, ensure_ascii=False, separators=(",", ":")
            ),
        )
    )


def outcome_entry(
    call_id: str,
    answered_at: datetime | None,
    ended_at: datetime,
    final_status: int,
    ended_by: str,
) -> Entry:
    """The outcome entry appended when an allowed call ends (its time is the end time)."""
    duration = None
    if answered_at is not None:
        duration = max(0, to_ts(ended_at) - to_ts(answered_at)) // 1000
    return _safe(
        Entry(
            kind=Kind.OUTCOME.value,
            ts=to_ts(ended_at),
            at=ended_at.isoformat(),
            call_id=call_id,
            answered_at=answered_at.isoformat() if answered_at else None,
            ended_at=ended_at.isoformat(),
            duration_ms=duration,
            final_status=final_status,
            ended_by=ended_by,
        )
    )


def admin_entry(
    action: str, at: datetime, *, number: str | None = None, detail: dict[str, Any] | None = None
) -> Entry:
    """An operator or housekeeping action (suspend, resume, purge) entered into the chain."""
    text = None
    if detail is not None:
        text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _safe(
        Entry(
            kind=Kind.ADMIN.value,
            ts=to_ts(at),
            at=at.isoformat(),
            number=number,
            action=action,
            detail=text,
        )
    )
