"""What a proxy or B2BUA checks before it processes a message (RFC 3261 sections 8.2,
16.3, 18.1.2, 18.2.1 and 20; RFC 4475 for the expected answers).

Invariants:
- ``classify`` never raises on any input: it answers ``process``, ``reply`` with a status,
  or ``drop``;
- a request with no Via or no CSeq cannot be answered and is dropped; a bad response is
  always dropped (a response is never answered);
- after ``process`` the accessors ``call_id``, ``cseq``, ``vias``, ``from_``, ``to``,
  ``max_forwards``, ``request_uri`` and ``addresses(Contact | P-Asserted-Identity)`` do not
  raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from sipguard.errors import SipParseError
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.uri import SipUri, TelUri
from sipguard.sip.wire import parse

Action = Literal["process", "reply", "drop"]
_SINGLE = ("call-id", "from", "to", "cseq")
_BROADCAST = "255.255.255.255"
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision on a datagram: process it, answer it with ``status``, or drop it."""

    action: Action
    status: int | None = None
    message: Message | None = field(default=None, compare=False, repr=False)
    detail: str = field(default="", compare=False)

    def as_tuple(self) -> tuple[str, int | None]:
        """Return ``(action, status)``, e.g. ``("reply", 400)``."""
        return (self.action, self.status)


def classify(data: bytes) -> Outcome:
    """Parse one datagram and run the checks a proxy makes before processing it."""
    try:
        msg = parse(data)
    except SipParseError as err:
        return _failed(err, None)
    try:
        if isinstance(msg, Request):
            validate_request(msg)
        else:
            validate_response(msg)
    except SipParseError as err:
        return _failed(err, msg if isinstance(msg, Request) else None)
    return Outcome("process", None, msg)


def _failed(err: SipParseError, msg: Message | None) -> Outcome:
    if err.status_hint is None:
        return Outcome("drop", None, None, err.message)
    return Outcome("reply", err.status_hint, msg, err.message)


def validate_request(req: Request) -> None:
    """Raise ``SipParseError`` (with the status to answer, or None to drop) if ``req`` is bad."""
    h = req.headers
    if "via" not in h or "cseq" not in h:
        raise SipParseError("no Via or CSeq: no way to route an answer", None)
    if req.version != "SIP/2.0":
        raise SipParseError(f"unsupported version {req.version}", 505)
    req.vias  # noqa: B018 - parses every Via value
    _single_fields(req)
    if req.cseq.method != req.method:
        raise SipParseError(f"CSeq method {req.cseq.method} differs from {req.method}")
    req.from_  # noqa: B018
    req.to  # noqa: B018
    if not req.call_id or _SPACE.search(req.call_id) is not None:
        raise SipParseError("bad Call-ID")
    _contacts(req)
    req.addresses("p-asserted-identity")
    _request_uri(req)
    _max_forwards(req)
    if "proxy-require" in h:
        raise SipParseError("unsupported Proxy-Require extension", 420)
    if req.method == "INVITE" and not _accepts_sdp(h.get_all("accept")):
        raise SipParseError("Accept rules out an SDP answer", 406)


def _accepts_sdp(accept: list[str]) -> bool:
    """True when an answer may carry SDP: no Accept header, or one that allows it."""
    ranges = [a.partition(";")[0].strip().lower() for a in accept]
    ranges = [r for r in ranges if r]
    if not ranges:
        return True
    return any(r in ("application/sdp", "application/*", "*/*") for r in ranges)


def _single_fields(msg: Message) -> None:
    h = msg.headers
    for name in _SINGLE:
        values = h.get_fields(name)
        if len(values) != 1:
            raise SipParseError(f"{name} must appear exactly once, not {len(values)} times")
    if len(h.get_fields("max-forwards")) > 1:
        raise SipParseError("Max-Forwards appears more than once")


def _contacts(req: Request) -> None:
    values = req.headers.get_all("contact")
    if values == ["*"]:
        return
    req.addresses("contact")


def _request_uri(req: Request) -> None:
    uri = req.request_uri
    if not isinstance(uri, SipUri | TelUri):
        raise SipParseError(f"unsupported URI scheme {uri.scheme}", 416)


def _max_forwards(req: Request) -> None:
    mf = req.max_forwards
    if mf is None:
        return
    if mf > 255:
        raise SipParseError(f"Max-Forwards {mf} out of range")
    if mf == 0:
        raise SipParseError("Max-Forwards reached 0", 483)


def validate_response(resp: Response) -> None:
    """Raise ``SipParseError`` (always a drop) if ``resp`` must not be processed."""
    try:
        if resp.version != "SIP/2.0":
            raise SipParseError(f"unsupported version {resp.version}")
        _single_fields(resp)
        resp.cseq  # noqa: B018
        resp.from_  # noqa: B018
        resp.to  # noqa: B018
        vias = resp.vias
        if not vias:
            raise SipParseError("response without Via")
        for via in vias:
            if _BROADCAST in (via.host, via.received):
                raise SipParseError("Via sent-by is a broadcast address")
    except SipParseError as err:
        raise SipParseError(err.message, None) from None
