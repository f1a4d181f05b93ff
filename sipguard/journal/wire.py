"""The journal service's wire protocol: length-prefixed JSON frames on a Unix socket.

Invariants:
- A frame is a 4-byte big-endian length then that many bytes of UTF-8 JSON, written and
  read by orjson.  A message orjson cannot write exactly (text with lone surrogates, an
  integer past 64 bits) goes as ASCII JSON from the standard encoder behind a ``=``, which
  the standard decoder reads back exactly; so any Python text survives the trip.  A
  frame longer than :data:`MAX_FRAME` or one that is not a JSON array is a
  :class:`ProtocolError`; the receiver drops the connection rather than guess.  Floats
  are finite (times): JSON has no NaN, and orjson writes one as null.
- A request is ``[id, op, *args]``; ``id`` is a positive integer chosen by the client, unique
  among its requests in flight.  A reply is ``[id, "ok", *result]`` or
  ``[id, "error", kind, detail]``.  Replies may come in any order.
- Ops (see :class:`Op`): ``append`` (one entry body; acked with ``seq, prev_hash, hash``
  once durable), ``do`` (a state op, answered at once, persisted in the next group commit,
  before any entry that arrives after it), ``put`` (a state op answered once durable),
  ``sync`` (answered once everything before it is durable), ``decide`` (state ops, each
  with the result its sender expects, then an entry appended only if every expectation
  held: one round trip for a decision and its counts, see ``service``).
- :class:`FrameReader` takes bytes as they arrive (any split) and yields whole messages.
"""

from __future__ import annotations

import json
import struct
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from sipguard.errors import SipguardError
from sipguard.journal.record import COLUMNS, Entry

MAX_FRAME = 16 << 20
_LEN = struct.Struct(">I")
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_decode = json.JSONDecoder().decode
_EXACT = b"="  # before a payload that only the standard decoder reads exactly
# Values JSON has no form for are handed on, to fail as the standard encoder fails them.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
BODY = COLUMNS[:-3]


#: A value as it travels in a frame: JSON's scalars and lists (state op results included).
Wire = None | bool | int | float | str | list["Wire"]


class ProtocolError(SipguardError):
    """Bytes on the journal socket that are not a valid frame."""


class Op(StrEnum):
    """Request kinds."""

    APPEND = "append"
    DO = "do"
    PUT = "put"
    SYNC = "sync"
    DECIDE = "decide"


def frame(message: list[Any]) -> bytes:
    """One message as a frame."""
    try:
        payload = orjson.dumps(message, option=_OPTIONS)
    except orjson.JSONEncodeError:
        payload = _EXACT + _ENCODER.encode(message).encode("ascii")
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes is over {MAX_FRAME}")
    return _LEN.pack(len(payload)) + payload


class FrameReader:
    """Reassembles frames from a byte stream split anywhere."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[list[Any]]:
        """Add ``data``; return every message now complete, in order."""
        self._buf += data
        out: list[list[Any]] = []
        start = 0
        buf = self._buf
        while len(buf) - start >= 4:
            (size,) = _LEN.unpack_from(buf, start)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes is over {MAX_FRAME}")
            end = start + 4 + size
            if len(buf) < end:
                break
            out.append(_message(bytes(buf[start + 4 : end])))
            start = end
        del buf[:start]
        return out

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buf)


def _message(payload: bytes) -> list[Any]:
    try:
        if payload[:1] == _EXACT:
            message = _decode(payload[1:].decode("ascii"))
        else:
            message = orjson.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"bad frame: {exc}") from exc
    if not isinstance(message, list) or not message:
        raise ProtocolError("a frame must hold a non-empty JSON array")
    return message


def entry_body(entry: Entry) -> list[Any]:
    """The entry's fields before ``seq``, in column order (what ``append`` carries)."""
    return list(entry.row()[: len(BODY)])


def body_entry(body: list[Any]) -> Entry:
    """The entry an ``append`` carries; a malformed body is a :class:`ProtocolError`.

    Text that cannot be stored (not UTF-8: an entry not made by the entry builders) is
    refused here, for that request alone, so it can never fail a whole group commit.
    """
    if len(body) != len(BODY):
        raise ProtocolError(f"an entry body has {len(BODY)} fields, not {len(body)}")
    for value in body:
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ProtocolError(f"entry text is not UTF-8: {exc.reason}") from exc
    try:
        return Entry(*body)
    except TypeError as exc:
        raise ProtocolError(f"bad entry body: {exc}") from exc


def stored(entry: Entry, seq: int, prev_hash: str, digest: str) -> Entry:
    """``entry`` as the service stored it."""
    return Entry(*entry.row()[: len(BODY)], seq, prev_hash, digest)  # type: ignore[call-arg]


def socket_path_for(journal_path: str | Path) -> Path:
    """Where the service listens for a journal: ``journal.db`` -> ``journal.sock``."""
    path = Path(journal_path)
    return path.with_name(f"{path.stem}.sock")
