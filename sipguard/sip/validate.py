"""What a proxy or B2BUA checks before it processes a message (RFC 3261 sections 8.2,
16.3, 18.1.2, 18.2.1 and 20; RFC 4475 for the expected answers).

Invariants:
- ``classify`` never raises on any input: it answers ``process``, ``reply`` with a status,
  or ``drop``;
- ``classify`` gives exactly the answer of ``parse`` followed by ``validate_request`` or
  ``validate_response``: it first tries the shape checks of ``sipguard.sip.shapes`` (one
  match per header, no value built) and runs the full validator only when one fails;
- a request with no Via or no CSeq cannot be answered and is dropped; a bad response is
  always dropped (a response is never answered);
- checks follow the message's role.  After ``process`` of a request the accessors
  ``call_id``, ``cseq``, ``vias``, ``top_via``, ``from_``, ``to``, ``max_forwards``,
  ``request_uri`` and ``addresses(Contact | P-Asserted-Identity)`` do not raise.  A
  response is only matched to a client transaction, so after its ``process`` the accessors
  ``call_id``, ``cseq``, ``top_via``, ``from_`` and ``to`` do not raise; its other Via
  values are looked at only for a broadcast sent-by (RFC 3261 section 18.2.2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sipguard.errors import SipParseError
from sipguard.sip import shapes
from sipguard.sip.address import parse_address
from sipguard.sip.headers import Headers, iter_commas
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.uri import SipUri, TelUri
from sipguard.sip.via import Via, parse_via
from sipguard.sip.wire import parse

Action = Literal["process", "reply", "drop"]
_SINGLE = ("call-id", "from", "to", "cseq")
_BROADCAST = "255.255.255.255"
_SPACE = shapes.SPACE


@dataclass(frozen=True, slots=True, init=False)
class Outcome:
    """The decision on a datagram: process it, answer it with ``status``, or drop it."""

    action: Action
    status: int | None = None
    message: Message | None = field(default=None, compare=False, repr=False)
    detail: str = field(default="", compare=False)

    def __init__(
        self,
        action: Action,
        status: int | None = None,
        message: Message | None = None,
        detail: str = "",
    ) -> None:
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "detail", detail)

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
            if not _plain_request(msg):
                validate_request(msg)
        elif not _plain_response(msg):
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
    _each(h.get_fields("via"), shapes.VIA_LIST, shapes.VIA, parse_via)
    _single_fields(req)
    if req.cseq.method != req.method:
        raise SipParseError(f"CSeq method {req.cseq.method} differs from {req.method}")
    req.from_  # noqa: B018
    req.to  # noqa: B018
    if not req.call_id or _SPACE.search(req.call_id) is not None:
        raise SipParseError("bad Call-ID")
    _contacts(req)
    _each(h.get_fields("p-asserted-identity"), shapes.ADDRESS_LIST, shapes.ADDRESS, parse_address)
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
    fields = req.headers.get_fields("contact")
    if fields == ["*"]:
        return
    _each(fields, shapes.ADDRESS_LIST, shapes.ADDRESS, parse_address)


def _each(
    fields: list[str],
    plain: re.Pattern[str],
    shape: re.Pattern[str],
    parser: Callable[[str], object],
) -> None:
    """Parse each comma-list element the shape checks do not vouch for; stop at a bad one.

    The list shape vouches for a whole field, or for the elements before the first comma
    it could not pass; only the elements from there on are split and looked at, one at a
    time, so a bad element early in a long field costs little.
    """
    for text in fields:
        m = plain.match(text)
        if m is not None and m.end() == len(text):
            continue
        rest = text
        if m is not None:
            tail = text[m.end() :].lstrip(" \t")
            if tail.startswith(","):
                rest = tail[1:]
        for value in iter_commas(rest):
            if shape.fullmatch(value) is None:
                parser(value)


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
    """Raise ``SipParseError`` (always a drop) if ``resp`` cannot be matched and relayed."""
    try:
        if resp.version != "SIP/2.0":
            raise SipParseError(f"unsupported version {resp.version}")
        _single_fields(resp)
        resp.cseq  # noqa: B018
        resp.from_  # noqa: B018
        resp.to  # noqa: B018
        resp.top_via  # noqa: B018
        for text in resp.headers.get_fields("via"):
            for value in iter_commas(text) if _BROADCAST in text else ():
                if _BROADCAST in value:
                    _no_broadcast(parse_via(value))
    except SipParseError as err:
        raise SipParseError(err.message, None) from None


def _no_broadcast(via: Via) -> None:
    if _BROADCAST in (via.host, via.received):
        raise SipParseError("Via sent-by is a broadcast address")


def _counts_ok(h: Headers, first: dict[str, str], *, unique: bool) -> bool:
    """Exactly one Call-ID, From, To and CSeq; at most one Max-Forwards; a Via."""
    present = (
        "via" in first and "cseq" in first and "call-id" in first
        and "from" in first and "to" in first
    )  # fmt: skip
    if not present or unique:
        return present
    return all(h.count(name) == 1 for name in _SINGLE) and h.count("max-forwards") <= 1


def _plain_response(resp: Response) -> bool:
    """True when ``resp`` is plainly valid by shape (``validate_response`` would pass)."""
    h = resp.headers
    first = h.first()
    unique = h.unique()
    if resp.version != "SIP/2.0" or not _counts_ok(h, first, unique=unique):
        return False
    via = first["via"]
    if _BROADCAST in via or (not unique and any(_BROADCAST in v for v in h.get_fields("via"))):
        return False
    needed = "\r\n".join((via, first["cseq"], first["from"], first["to"]))
    return shapes.RESPONSE.fullmatch(needed) is not None


def _plain_request(req: Request) -> bool:
    """True when ``req`` is plainly valid by shape (``validate_request`` would pass)."""
    h = req.headers
    first = h.first()
    unique = h.unique()
    if req.version != "SIP/2.0" or "proxy-require" in first:
        return False
    if not _counts_ok(h, first, unique=unique):
        return False
    if req.method == "INVITE" and "accept" in first:
        return False
    cseq = shapes.CSEQ.fullmatch(first["cseq"])
    if cseq is None or cseq.group(2) != req.method:
        return False
    call_id = first["call-id"]
    mf = first.get("max-forwards")
    return (
        bool(call_id)
        and _SPACE.search(call_id) is None
        and (mf is None or _plain_max_forwards(mf))
        and shapes.REQUEST_URI.fullmatch(req.uri) is not None
        and shapes.ADDRESS.fullmatch(first["from"]) is not None
        and shapes.ADDRESS.fullmatch(first["to"]) is not None
        and _plain_lists(h, first, unique=unique)
    )


def _plain_max_forwards(value: str) -> bool:
    return shapes.MAX_FORWARDS.fullmatch(value) is not None and 0 < int(value) <= 255


def _plain_lists(h: Headers, first: dict[str, str], *, unique: bool) -> bool:
    """Via, Contact and P-Asserted-Identity: every field a plain list (Contact may be *)."""
    if unique:
        contact = first.get("contact")
        pai = first.get("p-asserted-identity")
        return (
            shapes.VIA_LIST.fullmatch(first["via"]) is not None
            and (contact is None or contact == "*" or _ADDRESSES(contact) is not None)
            and (pai is None or _ADDRESSES(pai) is not None)
        )
    contacts = h.get_fields("contact")
    return (
        all(shapes.VIA_LIST.fullmatch(v) is not None for v in h.get_fields("via"))
        and (contacts == ["*"] or all(_ADDRESSES(v) is not None for v in contacts))
        and all(_ADDRESSES(v) is not None for v in h.get_fields("p-asserted-identity"))
    )


_ADDRESSES = shapes.ADDRESS_LIST.fullmatch
