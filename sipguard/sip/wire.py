"""Bytes <-> messages for one datagram (RFC 3261 sections 7, 7.3.1, 7.5 and 18.3).

Invariants:
- the head is decoded once as UTF-8 with ``surrogateescape`` so any octet round-trips;
- leading CRLFs are skipped (section 7.5); folded lines are joined with one space;
- header names are tokens and kept as written; values are stripped of outer white space;
- the body is framed by Content-Length: octets past it are ignored, a Content-Length larger
  than what is left is an error, none at all means the rest of the datagram (section 18.3);
- every failure is a ``SipParseError``: status 400 for a request whose answer can be
  routed, None (drop) for a response or for a request with no Via or CSeq line;
- ``serialise`` writes a canonical form with a Content-Length equal to the body length;
- parsing costs time linear in the datagram: folding is joined line by line, and only
  the start line, header names and stripped values are taken apart; structured values
  are parsed later, on first access (see ``message``).
"""

from __future__ import annotations

import re
from itertools import islice

from sipguard.errors import SipParseError
from sipguard.memo import UsedMemo
from sipguard.sighting import SecondSighting
from sipguard.sip.address import TOKEN_CHARS
from sipguard.sip.headers import COMPACT, Headers, canonical, canonical_keys
from sipguard.sip.message import (
    CSEQ_MAX,
    Message,
    Request,
    Response,
    small_int,
)

# Peers send the same header names in the same order message after message, so the checked
# lookup keys of a name sequence are memoised (bounded in entries and in key length).  A
# sequence enters on its second sighting (``_SEEN``, see ``sipguard.sighting``), so a flood
# of ever new sequences leaves nothing in the memo, and it stays only while it is used
# (``sweep_memo`` and ``sipguard.memo``), so the sequences a flood repeats are gone soon
# after it.  A memoised list holds the one shared string of each common key
# (``_KEY_STRINGS``, fixed at import); a sequence of more than ``_KEYS_MAX_FIELDS`` fields
# (a Via chain grown by a loop, a fuzzer's duplicated headers) is not memoised.
_KEYS_MAX = 256
_KEYS: UsedMemo[str, list[str]] = UsedMemo(_KEYS_MAX)
_KEYS_MAX_NAMES = 1024
_KEYS_MAX_FIELDS = 48
_COMMON = """
call-id contact content-length content-type cseq from max-forwards rack record-route
route rseq to via allow supported require p-asserted-identity privacy reason user-agent
"""
_KEY_STRINGS: dict[str, str] = {k: k for k in (*_COMMON.split(), *COMPACT.values())}
_SEEN = SecondSighting(1024)  # name sequences seen once
_NAMES = re.compile(r"(?:[!%'*+\-.0-9A-Za-z_`~]+:)*")


def parse(data: bytes) -> Message:
    """Parse one UDP datagram into a :class:`Request` or :class:`Response`."""
    try:
        return _parse(data)
    except SipParseError as err:
        if err.status_hint is not None and not _routable(data):
            raise SipParseError(err.message, None) from None
        raise
    except (ValueError, IndexError) as err:  # defensive: never leak non-SIP errors
        raise SipParseError(f"malformed message: {err}", 400 if _routable(data) else None) from None


def _parse(data: bytes) -> Message:
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SipParseError("no empty line after the header")
    head = data[start:end].decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    if "\r\n " in head or "\r\n\t" in head:
        lines = unfold(lines)
    first, names, values = _split_lines(lines)
    headers = _headers(names, values)
    body = _body(headers, data, end + 4)
    if first.startswith("SIP/"):
        return _response(first, headers, body)
    return _request(first, headers, body)


def unfold(lines: list[str]) -> list[str]:
    """Join continuation lines: ``[ \\t]*CRLF[ \\t]+`` becomes one space (section 7.3.1).

    Works line by line, so the cost is linear in the head (a regular expression for the
    same rule backtracks quadratically on long runs of white space).
    """
    out: list[str] = []
    parts: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and parts:
            parts[-1] = parts[-1].rstrip(" \t")
            parts.append(line.lstrip(" \t"))
            continue
        if parts:
            out.append(" ".join(parts))
        parts = [line]
    out.append(" ".join(parts))
    return out


def _split_lines(lines: list[str]) -> tuple[str, list[str], list[str]]:
    """Partition each header line at its first colon; strip the values."""
    names: list[str] = []
    values: list[str] = []
    add_name = names.append
    add_value = values.append
    for line in islice(lines, 1, None):
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without a colon: {line[:40]!r}")
        add_name(name)
        add_value(value.strip())
    return lines[0], names, values


def _headers(names: list[str], values: list[str]) -> Headers:
    joined = ":".join(names)
    keys = _KEYS.get(joined)
    if keys is not None:  # the memo's own list: each message gets a copy
        return Headers.from_lists(names, values, keys.copy())
    if " " in joined or "\t" in joined:
        names = [n.rstrip() for n in names]
        return Headers.from_lists(names, values, _checked_keys(names))
    keys = _checked_keys(names)
    if len(joined) <= _KEYS_MAX_NAMES and not _KEYS.full():
        _remember(joined, keys)  # which memoises a list of its own
    return Headers.from_lists(names, values, keys)


def _remember(joined: str, keys: list[str]) -> None:
    """Memoise ``keys`` for the name sequence ``joined`` if it was seen once before."""
    if len(keys) <= _KEYS_MAX_FIELDS and _SEEN.again(joined):
        shared = _KEY_STRINGS.get
        _KEYS.put(joined, [shared(key) or key for key in keys])


def sweep_memo() -> None:
    """Forget the name sequences not parsed since the last call (see ``sipguard.memo``)."""
    _KEYS.sweep()


def _checked_keys(names: list[str]) -> list[str]:
    """Check that every name is a token; return their lookup keys."""
    if names and _NAMES.fullmatch(":".join(names) + ":") is None:
        bad = next(n for n in names if _NAMES.fullmatch(n + ":") is None)
        raise SipParseError(f"bad header name {bad[:40]!r}")
    return canonical_keys(names)


def _body(headers: Headers, data: bytes, offset: int) -> bytes:
    first = headers.first()
    declared = first.get("content-length")
    if declared is None:
        return data[offset:]
    if len(first) != len(headers) and headers.count("content-length") > 1:
        raise SipParseError("more than one Content-Length")
    length = small_int(declared, CSEQ_MAX, "Content-Length")
    if length > len(data) - offset:
        raise SipParseError(f"Content-Length {length} exceeds the {len(data) - offset} octets left")
    return data[offset : offset + length]


def _request(line: str, headers: Headers, body: bytes) -> Request:
    parts = line.split()
    if len(parts) != 3:
        raise SipParseError(f"bad Request-Line {line[:60]!r}")
    method, uri, version = parts
    if not (method.isascii() and method.isalpha()) and not set(method) <= TOKEN_CHARS:
        raise SipParseError(f"bad method {method[:30]!r}")
    if version != "SIP/2.0" and not _is_version(version):
        raise SipParseError(f"bad SIP-Version {version[:20]!r}")
    version = "SIP/2.0" if version == "SIP/2.0" else version.upper()
    return Request(method, uri, headers, body, version)


def _response(line: str, headers: Headers, body: bytes) -> Response:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    plain = version == "SIP/2.0" or _is_version(version)
    if not plain or len(code) != 3 or not code.isdigit() or not code.isascii():
        raise SipParseError(f"bad Status-Line {line[:60]!r}", None)
    status = int(code)
    if not 100 <= status <= 699:
        raise SipParseError(f"status code out of range: {status}", None)
    version = "SIP/2.0" if version == "SIP/2.0" else version.upper()
    return Response(status, reason.strip(), headers, body, version)


def _is_version(text: str) -> bool:
    major, dot, minor = text[4:].partition(".")
    return (
        text[:4].upper() == "SIP/"
        and bool(dot)
        and major.isdigit()
        and minor.isdigit()
        and (major + minor).isascii()
    )


def _routable(data: bytes) -> bool:
    """True when ``data`` is a request with a Via and a CSeq line to route an answer by."""
    head = data.lstrip(b"\r\n").split(b"\r\n\r\n", 1)[0]
    if head.startswith(b"SIP/"):
        return False
    names = {canonical(line.partition(b":")[0].decode("latin-1")) for line in head.split(b"\r\n")}
    return "via" in names and "cseq" in names


def serialise(msg: Message) -> bytes:
    """Write ``msg`` in canonical wire form with a correct Content-Length."""
    if isinstance(msg, Request):
        lines = [f"{msg.method} {msg.uri} {msg.version}"]
    else:
        lines = [f"{msg.version} {msg.status} {msg.reason}".rstrip(" ")]
    length = f"Content-Length: {len(msg.body)}"
    at = msg.headers.position("content-length")
    if at is None:  # the usual case for what we build: Content-Length goes last
        lines += map(": ".join, msg.headers.items())
        lines.append(length)
    else:  # in the first Content-Length's place; any other one is dropped
        triples = list(msg.headers.triples())
        lines += [f"{n}: {v}" for n, v, k in triples[:at]]
        lines.append(length)
        lines += [f"{n}: {v}" for n, v, k in triples[at + 1 :] if k != "content-length"]
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + msg.body
