"""Plain, obvious versions of what the fast SIP paths do, for tests to compare against.

Each function here is written for clarity, one character or one value at a time, and
must give the same answer as the optimised code it mirrors.
"""

from __future__ import annotations

import re

from sipguard.errors import SipParseError
from sipguard.sip import Request, Response, parse, parse_address, parse_via
from sipguard.sip.headers import Headers
from sipguard.sip.message import Message
from sipguard.sip.uri import SipUri, TelUri, parse_uri

FOLD = re.compile(r"[ \t]*\r\n[ \t]+")
_SINGLE = ("call-id", "from", "to", "cseq")
_BROADCAST = "255.255.255.255"


def unfold(head: str) -> list[str]:
    """RFC 3261 section 7.3.1 as a regular expression, then split into lines."""
    return FOLD.sub(" ", head).split("\r\n")


def split_commas(value: str) -> list[str]:
    """Top-level comma split, one character at a time."""
    if "," not in value:
        return [value.strip()]
    out: list[str] = []
    start = 0
    quoted = angle = False
    i = 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return out


def unquote(text: str, start: int) -> tuple[str, int]:
    """A quoted string read one character at a time (backslash escapes the next one)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise SipParseError("unterminated quoted string")


def unescape(text: str) -> str:
    """%HH decoding one character at a time."""
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
                raise SipParseError("bad escape")
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.extend(text[i].encode("utf-8", "surrogateescape"))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def values(h: Headers, name: str) -> list[str]:
    """Every value of a comma-list header, split by the plain splitter."""
    return [v for field in h.get_fields(name) for v in split_commas(field)]


def validate_request(req: Request) -> None:
    """Every check, every value parsed, in the documented order (no shape shortcuts)."""
    h = req.headers
    if "via" not in h or "cseq" not in h:
        raise SipParseError("no Via or CSeq", None)
    if req.version != "SIP/2.0":
        raise SipParseError("version", 505)
    for value in values(h, "via"):
        parse_via(value)
    _single_fields(req)
    if req.cseq.method != req.method:
        raise SipParseError("CSeq method")
    parse_address(h.get("from") or "")
    parse_address(h.get("to") or "")
    if not req.call_id or any(c.isspace() for c in req.call_id):
        raise SipParseError("Call-ID")
    _contacts_and_identities(h)
    if not isinstance(parse_uri(req.uri), SipUri | TelUri):
        raise SipParseError("scheme", 416)
    _max_forwards(req)
    if "proxy-require" in h:
        raise SipParseError("Proxy-Require", 420)
    if req.method == "INVITE" and not _accepts_sdp(values(h, "accept")):
        raise SipParseError("Accept", 406)


def _contacts_and_identities(h: Headers) -> None:
    """Parse every Contact (unless it is ``*``) and every P-Asserted-Identity value."""
    contacts = values(h, "contact")
    for value in [] if contacts == ["*"] else contacts:
        parse_address(value)
    for value in values(h, "p-asserted-identity"):
        parse_address(value)


def _single_fields(msg: Message) -> None:
    for name in _SINGLE:
        if len(msg.headers.get_fields(name)) != 1:
            raise SipParseError(f"{name} count")
    if len(msg.headers.get_fields("max-forwards")) > 1:
        raise SipParseError("Max-Forwards count")


def _max_forwards(req: Request) -> None:
    mf = req.max_forwards
    if mf is not None and mf > 255:
        raise SipParseError("Max-Forwards range")
    if mf == 0:
        raise SipParseError("Max-Forwards 0", 483)


def _accepts_sdp(accept: list[str]) -> bool:
    ranges = [r for r in (a.partition(";")[0].strip().lower() for a in accept) if r]
    return not ranges or any(r in ("application/sdp", "application/*", "*/*") for r in ranges)


def validate_response(resp: Response) -> None:
    """What matching a response needs, every value parsed plainly (always a drop)."""
    try:
        if resp.version != "SIP/2.0":
            raise SipParseError("version")
        _single_fields(resp)
        resp.cseq  # noqa: B018
        parse_address(resp.headers.get("from") or "")
        parse_address(resp.headers.get("to") or "")
        if "via" not in resp.headers:
            raise SipParseError("no Via")
        parse_via(split_commas(resp.headers.get("via") or "")[0])
        for value in values(resp.headers, "via"):
            if _BROADCAST in value:
                via = parse_via(value)
                if _BROADCAST in (via.host, via.received):
                    raise SipParseError("broadcast")
    except SipParseError as err:
        raise SipParseError(err.message, None) from None


def classify(data: bytes) -> tuple[str, int | None]:
    """``(action, status)`` by parse then the plain validators above."""
    try:
        msg = parse(data)
        if isinstance(msg, Request):
            validate_request(msg)
        else:
            validate_response(msg)
    except SipParseError as err:
        return ("drop", None) if err.status_hint is None else ("reply", err.status_hint)
    return ("process", None)
