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
- The entries of calls and of operators are built in ``sipguard.journal.entries``, which
  makes their text safe to encode.  A body that comes over the wire is taken only if every
  field is null, a number or UTF-8 text (:func:`checked_body`); its hash
  (:func:`body_hash`) is the one :meth:`Entry.chained` gives.
- ``Entry`` writes its ``__init__`` out: mypyc runs a dataclass's generated one as
  interpreted code, and an entry is built for every decision and outcome
  (``tests/test_native_inits.py`` holds it to the fields).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any

import orjson

GENESIS_HASH = "00" * 32


class Kind(StrEnum):
    """What an entry records."""

    DECISION = "decision"
    OUTCOME = "outcome"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True, init=False)
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

    # fmt: off
    def __init__(self, kind: str, ts: int, at: str, call_id: str | None = None,
        legs: str | None = None, direction: str | None = None, source: str | None = None,
        trunk: str | None = None, operator: str | None = None, caller: str | None = None,
        callee: str | None = None, number: str | None = None, verdict: str | None = None,
        status: int | None = None, reason: str | None = None, credential: str | None = None,
        suspended_now: int | None = None, monitored: str | None = None,
        rules_hash: str | None = None, answered_at: str | None = None, ended_at: str | None = None,
        duration_ms: int | None = None, final_status: int | None = None,
        ended_by: str | None = None, action: str | None = None, detail: str | None = None,
        seq: int | None = None, prev_hash: str | None = None, hash: str | None = None) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "legs", legs)
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "trunk", trunk)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "caller", caller)
        object.__setattr__(self, "callee", callee)
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "verdict", verdict)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "credential", credential)
        object.__setattr__(self, "suspended_now", suspended_now)
        object.__setattr__(self, "monitored", monitored)
        object.__setattr__(self, "rules_hash", rules_hash)
        object.__setattr__(self, "answered_at", answered_at)
        object.__setattr__(self, "ended_at", ended_at)
        object.__setattr__(self, "duration_ms", duration_ms)
        object.__setattr__(self, "final_status", final_status)
        object.__setattr__(self, "ended_by", ended_by)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "detail", detail)
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "prev_hash", prev_hash)
        object.__setattr__(self, "hash", hash)
    # fmt: on

    def canonical(self) -> bytes:
        """The bytes hashed into the chain: every field but the two hashes."""
        return self._canonical(self.seq)

    def _canonical(self, seq: int | None) -> bytes:
        return canonical_body(_body_of(self), seq)

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
# The canonical form: sorted keys, compact separators, UTF-8.  orjson writes it for bodies
# of text, null and 64-bit integers (every entry the builders make); the standard encoder,
# which gives the same bytes there (tests/journal/test_canonical.py), writes the rest.
# The last three fields are seq, prev_hash and hash; every other field is the entry's body.
assert COLUMNS[-3:] == ("seq", "prev_hash", "hash")
_BODY: tuple[str, ...] = COLUMNS[:-3]
_body_of = attrgetter(*_BODY)
_row_of = attrgetter(*COLUMNS)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def body_hash(values: Sequence[Any], seq: int, prev_hash: str) -> str:
    """The hash of an entry whose body (its fields before ``seq``) is ``values``, placed at
    ``seq`` after ``prev_hash``: what :meth:`Entry.chained` gives it, with no entry built."""
    return link_hash(prev_hash, canonical_body(values, seq))


def canonical_body(values: Sequence[Any], seq: int | None) -> bytes:
    """The canonical form of an entry whose body is ``values``, placed at ``seq``."""
    body = dict(zip(_BODY, values, strict=True))
    body["seq"] = seq
    if body["monitored"] is None:
        del body["monitored"]
    if float not in map(type, values):
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer past 64 bits, text with a lone surrogate
            pass
    return _ENCODER.encode(body).encode()


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
