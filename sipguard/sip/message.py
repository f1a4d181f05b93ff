"""SIP requests and responses (RFC 3261 section 7).

Invariants:
- messages are frozen values; their ``Headers`` hold the raw fields in wire order;
- structured headers (Via, From, To, CSeq, ...) are parsed lazily on first access and
  memoised in the ``Headers`` cache, so the hot path pays only for what it reads; each
  cache key names the one header it is parsed from (``parsed_from``), so
  ``with_header`` can rewrite one field and keep what was parsed from the others;
- an accessor that meets a missing or malformed mandatory header raises ``SipParseError``
  with status 400; optional headers give None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipguard.errors import SipParseError
from sipguard.sip.address import Address, parse_address
from sipguard.sip.headers import Headers, canonical, split_commas
from sipguard.sip.uri import Uri, parse_uri
from sipguard.sip.via import Via, parse_via

CSEQ_MAX = 2**32 - 1  # RFC 3261 section 20.16: a 32-bit unsigned integer
#: The Max-Forwards of a request we originate (RFC 3261 section 8.1.1.6), and as a field value.
MAX_FORWARDS = 70
MAX_FORWARDS_TEXT = str(MAX_FORWARDS)


@dataclass(frozen=True, slots=True, init=False)
class CSeq:
    """The CSeq header: sequence number and method (RFC 3261 section 20.16)."""

    seq: int
    method: str

    def __init__(self, seq: int, method: str) -> None:
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "method", method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    """Parse ``"<digits> <method>"``; the number must fit in 32 bits."""
    parts = text.split()
    if len(parts) != 2:
        raise SipParseError(f"bad CSeq {text[:60]!r}")
    return CSeq(small_int(parts[0], CSEQ_MAX, "CSeq number"), parts[1])


def small_int(text: str, limit: int, what: str) -> int:
    """Read ASCII digits as an int no larger than ``limit`` (leading zeros allowed)."""
    if len(text) <= 9 and text.isdigit() and text.isascii():
        value = int(text)
        if value <= limit:
            return value
    digits = text.lstrip("0") or "0"
    if not text.isdigit() or not text.isascii() or len(digits) > len(str(limit)):
        raise SipParseError(f"bad {what} {text[:30]!r}")
    value = int(digits)
    if value > limit:
        raise SipParseError(f"{what} out of range: {value}")
    return value


#: The header each memoised value is parsed from ("" for none: the start line).
_SOURCE: dict[str, str] = {
    "cseq": "cseq", "via": "via", "top_via": "via", "from": "from", "to": "to", "ruri": "",
}  # fmt: skip


def parsed_from(key: str) -> str | None:
    """The header key the memoised value under cache ``key`` is parsed from (None: unknown)."""
    if key.startswith("addr:"):
        return canonical(key[5:])
    return _SOURCE.get(key)


def with_header(headers: Headers, name: str, value: str) -> Headers:
    """``headers`` with its first ``name`` field (which must exist) set to ``value``; what
    was parsed from the other headers stays parsed."""
    key = canonical(name)

    def keep(cache_key: str) -> bool:
        source = parsed_from(cache_key)
        return source is not None and source != key

    return headers.with_first(name, value, keep)


def with_parsed(headers: Headers, key: str, value: object) -> Headers:
    """``headers`` with ``value`` memoised under cache ``key``: the caller vouches that it is
    what the accessor would parse (``top_via``: ``parse_via`` of the first Via element)."""
    headers.memo(key, lambda _: value)
    return headers


def _one(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise SipParseError(f"missing {name} header")
    return value


def _cseq(h: Headers) -> CSeq:
    return parse_cseq(_one(h, "cseq"))


def _vias(h: Headers) -> list[Via]:
    return [parse_via(v) for v in h.get_all("via")]


def _top_via(h: Headers) -> Via:
    return parse_via(split_commas(_one(h, "via"))[0])


def _from(h: Headers) -> Address:
    return parse_address(_one(h, "from"))


def _to(h: Headers) -> Address:
    return parse_address(_one(h, "to"))


class _Common:
    """Accessors shared by requests and responses (mixin; needs ``headers``)."""

    __slots__ = ()
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        """The Call-ID value, stripped."""
        return _one(self.headers, "call-id").strip()

    @property
    def cseq(self) -> CSeq:
        """The parsed CSeq header."""
        return self.headers.memo("cseq", _cseq)

    @property
    def vias(self) -> list[Via]:
        """Every Via value, top first."""
        return self.headers.memo("via", _vias)

    @property
    def top_via(self) -> Via:
        """The topmost Via value."""
        return self.headers.memo("top_via", _top_via)

    @property
    def from_(self) -> Address:
        """The parsed From header."""
        return self.headers.memo("from", _from)

    @property
    def to(self) -> Address:
        """The parsed To header."""
        return self.headers.memo("to", _to)

    @property
    def max_forwards(self) -> int | None:
        """The Max-Forwards value, or None when absent."""
        value = self.headers.get("max-forwards")
        if value is None:
            return None
        return small_int(value.strip(), CSEQ_MAX, "Max-Forwards")

    @property
    def content_length(self) -> int | None:
        """The declared Content-Length, or None when absent."""
        value = self.headers.get("content-length")
        if value is None:
            return None
        return small_int(value.strip(), CSEQ_MAX, "Content-Length")

    def addresses(self, name: str) -> list[Address]:
        """Parse every value of an address-list header (Contact, Route, PAI, ...)."""
        h = self.headers
        return h.cached("addr:" + name.lower(), lambda: [parse_address(v) for v in h.get_all(name)])


@dataclass(frozen=True, slots=True, init=False)
class Request(_Common):
    """A SIP request; ``uri`` is the Request-URI as written."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = "SIP/2.0"

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "headers", Headers() if headers is None else headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "version", version)

    @property
    def request_uri(self) -> Uri:
        """The parsed Request-URI."""
        return self.headers.cached("ruri", lambda: parse_uri(self.uri))


@dataclass(frozen=True, slots=True, init=False)
class Response(_Common):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = "SIP/2.0"

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Headers | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "headers", Headers() if headers is None else headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "version", version)


Message = Request | Response
