"""Journal entries, their canonical form and the hash chain.

Invariants:
- The journal is append-only.  An entry is one event: a call ``decision``, a call
  ``outcome`` (answer/end of an allowed call, appended as its own row when the call ends,
  never written into the decision row), an ``admin`` action (suspend, resume, purge).
- Every entry carries ``hash = sha256(prev_hash || canonical(entry))`` where ``prev_hash``
  is the 32 raw bytes of the previous entry's hash (32 zero bytes before the first entry)
  and ``canonical`` is the UTF-8 JSON of every field except ``hash`` and ``prev_hash``,
  keys sorted, no whitespace; ``monitored`` is left out while it is null, so entries
  written before the field existed keep their hashes.  Every stored column is in the
  canonical form, so editing any column of any row breaks the chain from that row on.
- Times are timezone-aware; ``ts`` is the entry time in integer microseconds since the Unix
  epoch (exact, so retention boundaries are exact), ``at`` the same instant as ISO 8601.
- Numbers are NSNs as the policy reports them (spec section 2); rejected and allowed calls,
  inbound and outbound, all produce exactly one decision entry (an INVITE refused as
  malformed too: reason ``MALFORMED``, the parse error in ``detail``).
- Text from the wire may hold bytes that are not UTF-8, kept by the parser as surrogate
  escapes.  The entry builders here are the one place that makes such text safe
  (:func:`safe_text`), so every entry they build encodes, hashes and stores.  A body that
  comes over the wire is taken only if every field is null, a number or UTF-8 text
  (:func:`checked_body`); its hash (:func:`body_hash`) is the one :meth:`Entry.chained`
  gives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any

from sipguard.policy.facts import CallFacts, Verdict

GENESIS_HASH = "00" * 32


class Kind(StrEnum):
    """What an entry records."""

    DECISION = "decision"
    OUTCOME = "outcome"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal row; ``seq``, ``prev_hash`` and ``hash`` are set when it is appended."""

    kind: str
    ts: int
    at: str
    call_id: str | None = None
    legs: str | None = None
    direction: str | None = None
    source: str | None = None
    trunk: str | None = None
    operator: str | None = None
    caller: str | None = None
    callee: str | None = None
    number: str | None = None
    verdict: str | None = None
    status: int | None = None
    reason: str | None = None
    credential: str | None = None
    suspended_now: int | None = None
    monitored: str | None = None
    rules_hash: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    final_status: int | None = None
    ended_by: str | None = None
    action: str | None = None
    detail: str | None = None
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None

    def canonical(self) -> bytes:
        """The bytes hashed into the chain: every field but the two hashes."""
        return self._canonical(self.seq)

    def _canonical(self, seq: int | None) -> bytes:
        body = dict(zip(_BODY, _body_of(self), strict=True))
        body["seq"] = seq
        if body["monitored"] is None:
            del body["monitored"]
        return _ENCODER.encode(body).encode()

    def chained(self, seq: int, prev_hash: str) -> Entry:
        """This entry placed at ``seq`` after an entry whose hash is ``prev_hash``."""
        values: tuple[Any, ...] = _body_of(self)
        return Entry(*(*values, seq, prev_hash, body_hash(values, seq, prev_hash)))

    def row(self) -> tuple[Any, ...]:
        """The field values in :data:`COLUMNS` order (for inserting)."""
        return tuple(_row_of(self))

    def as_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (for JSON/CSV output)."""
        return asdict(self)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Entry))
#: The columns that hold integers (every other holds text), as ``Entry`` declares them;
#: written out because a compiled ``Entry``'s fields do not keep their annotations' text.
INTEGER_COLUMNS = frozenset(("ts", "status", "suspended_now", "duration_ms", "final_status", "seq"))
# The canonical form: sorted keys, compact separators, UTF-8 (the C encoder does the work).
# The last three fields are seq, prev_hash and hash; every other field is the entry's body.
assert COLUMNS[-3:] == ("seq", "prev_hash", "hash")
_BODY: tuple[str, ...] = COLUMNS[:-3]
_body_of = attrgetter(*_BODY)
_row_of = attrgetter(*COLUMNS)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def body_hash(values: Sequence[Any], seq: int, prev_hash: str) -> str:
    """The hash of an entry whose body (its fields before ``seq``) is ``values``, placed at
    ``seq`` after ``prev_hash``: what :meth:`Entry.chained` gives it, with no entry built."""
    body = dict(zip(_BODY, values, strict=True))
    body["seq"] = seq
    if body["monitored"] is None:
        del body["monitored"]
    return link_hash(prev_hash, _ENCODER.encode(body).encode())


def checked_body(body: list[Any]) -> tuple[Any, ...]:
    """An entry body from the wire (its fields before ``seq``) that can be chained and
    stored; else ValueError, so it is refused alone and never fails a whole commit."""
    if len(body) != len(_BODY):
        raise ValueError(f"an entry body has {len(_BODY)} fields, not {len(body)}")
    for value in body:
        if isinstance(value, str):
            if not value.isascii():
                value.encode("utf-8")  # UnicodeEncodeError is a ValueError
        elif value is not None and not isinstance(value, int | float):
            raise ValueError(f"an entry field cannot hold {type(value).__name__}")
    return tuple(body)


def link_hash(prev_hash: str, canonical: bytes) -> str:
    """``sha256(prev_hash || canonical)`` as lowercase hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


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


def _entry(**values: str | int | None) -> Entry:
    """An entry whose text fields are all safe to encode (see :func:`safe_text`)."""
    return Entry(**{k: safe_text(v) if isinstance(v, str) else v for k, v in values.items()})  # type: ignore[arg-type]


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
    return _entry(
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
    return _entry(
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
        detail=json.dumps({"error": safe_text(error)}, ensure_ascii=False, separators=(",", ":")),
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
    return _entry(
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


def admin_entry(
    action: str, at: datetime, *, number: str | None = None, detail: dict[str, Any] | None = None
) -> Entry:
    """An operator or housekeeping action (suspend, resume, purge) entered into the chain."""
    text = None
    if detail is not None:
        text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _entry(
        kind=Kind.ADMIN.value,
        ts=to_ts(at),
        at=at.isoformat(),
        number=number,
        action=action,
        detail=text,
    )
