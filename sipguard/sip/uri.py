"""URIs: sip/sips (RFC 3261 sections 19.1 and 25), tel (RFC 3966) and any other scheme.

Invariants:
- parsed fields hold decoded text: ``%HH`` escapes in the user, password, parameters and
  headers of a SIP URI and in a tel number are decoded (RFC 3261 section 19.1.2, RFC 4475
  section 3.1.1.3), so ``%00`` stays a distinct character and never truncates;
- ``str(uri)`` re-escapes whatever the grammar does not allow unescaped, so
  ``parse_uri(str(u)) == u``;
- the scheme is compared and stored in lower case; bad syntax raises ``SipParseError``;
- parsing costs time linear in the text (``%HH`` decoding works escape by escape).
"""

from __future__ import annotations

import codecs
import re
import string
from dataclasses import dataclass
from itertools import islice

from sipguard.errors import SipParseError

Params = tuple[tuple[str, str | None], ...]

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-_.!~*'()")
_USER_OK = _UNRESERVED | frozenset("&=+$,;?/")
_PASS_OK = _UNRESERVED | frozenset("&=+$,")
_PARAM_OK = _UNRESERVED | frozenset("[]/:&+$")
_HNV_OK = _UNRESERVED | frozenset("[]/?:+$")
_HOST_OK = frozenset(string.ascii_letters + string.digits + "-.")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_KNOWN = frozenset(("sip", "sips", "tel"))
_HEX = frozenset(string.hexdigits)
_TEL_OK = _UNRESERVED | frozenset("[]/:&+$%;=#")
_OPAQUE_BAD = frozenset(' \t\r\n<>"')


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_OCTET = {f"{i:02x}": bytes((i,)) for i in range(256)}


def unescape(text: str) -> str:
    """Decode ``%HH`` escapes (as Latin-1 octets re-read as UTF-8 when possible)."""
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text) is not None:
        raise SipParseError(f"bad %-escape in {text[:60]!r}")
    if text.isascii() and "\\" not in text:
        # every escape is valid, so each %HH becomes \xHH for the C escape decoder
        raw: bytes = codecs.escape_decode(text.replace("%", "\\x").encode("ascii"))[0]
    else:
        raw = _unescape_parts(text)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _unescape_parts(text: str) -> bytes:
    """%HH decoding escape by escape, for text the C decoder must not see."""
    parts = text.split("%")
    out = [parts[0].encode("utf-8", "surrogateescape")]
    for part in islice(parts, 1, None):
        out.append(_OCTET[part[:2].lower()])
        if len(part) > 2:
            out.append(part[2:].encode("utf-8", "surrogateescape"))
    return b"".join(out)


def escape(text: str, allowed: frozenset[str]) -> str:
    """Percent-encode every character of ``text`` outside ``allowed``."""
    if allowed.issuperset(text):  # every character allowed: nothing to encode
        return text
    out: list[str] = []
    for ch in text:
        if ch in allowed:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def _param_str(params: Params, allowed: frozenset[str]) -> str:
    parts = []
    for name, value in params:
        enc = escape(name, allowed)
        parts.append(enc if value is None else f"{enc}={escape(value, allowed)}")
    return "".join(";" + p for p in parts)


@dataclass(frozen=True, slots=True, init=False)
class SipUri:
    """A sip: or sips: URI with decoded user, password, parameters and headers."""

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: Params = ()

    def __init__(
        self,
        scheme: str,
        user: str | None,
        password: str | None,
        host: str,
        port: int | None = None,
        params: Params = (),
        headers: Params = (),
    ) -> None:
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "headers", headers)

    def param(self, name: str) -> str | None:
        """Return the value of URI parameter ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((v or "" for n, v in self.params if n.lower() == low), None)

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(escape(self.user, _USER_OK))
            if self.password is not None:
                out.append(":" + escape(self.password, _PASS_OK))
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(_param_str(self.params, _PARAM_OK))
        if self.headers:
            out.append("?" + _param_str(self.headers, _HNV_OK)[1:].replace(";", "&"))
        return "".join(out)


@dataclass(frozen=True, slots=True)
class TelUri:
    """A tel: URI (RFC 3966): the number as written, decoded, and its parameters."""

    number: str
    params: Params = ()

    def __str__(self) -> str:
        return "tel:" + escape(self.number, _PARAM_OK) + _param_str(self.params, _PARAM_OK)


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI of any other scheme, kept opaque."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse a URI; raise ``SipParseError`` (400) when it is not well formed."""
    scheme, colon, rest = text.partition(":")
    if scheme not in _KNOWN:
        if not colon or _SCHEME_RE.fullmatch(scheme) is None:
            raise SipParseError(f"not a URI: {text[:60]!r}")
        scheme = scheme.lower()
    elif not colon:
        raise SipParseError(f"not a URI: {text[:60]!r}")
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if scheme == "tel":
        return _parse_tel(rest)
    if not rest or any(ch in _OPAQUE_BAD for ch in rest):
        raise SipParseError(f"bad {scheme} URI: {text!r}")
    return AbsoluteUri(scheme, rest)


def split_params(text: str, what: str = "parameter") -> Params:
    """Split ``a=1;b;c=2`` into pairs; names must be non-empty, values are decoded."""
    out: list[tuple[str, str | None]] = []
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name or (eq and not value):
            raise SipParseError(f"empty {what} in {text!r}")
        out.append((unescape(name), unescape(value) if eq else None))
    return tuple(out)


_U = r"A-Za-z0-9\-_.!~*'()%"
_SIP_RE = re.compile(
    rf"(?:(?P<user>[{_U}&=+$,;?/]+)(?::(?P<pw>[{_U}&=+$,]*))?@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::(?P<port>[0-9]{1,5}))?"
    rf"(?P<params>(?:;[{_U}\[\]/:&+$=]*)*)(?:\?(?P<hdrs>[{_U}\[\]/?:+$=&]*))?"
)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    m = _SIP_RE.fullmatch(rest)
    if m is None:
        raise SipParseError(f"bad {scheme} URI {rest[:60]!r}")
    user, pw, host, port, params, hdrs = m.groups()
    if port is not None and int(port) > 65535:
        raise SipParseError(f"bad port in {rest[:60]!r}")
    return SipUri(
        scheme,
        None if user is None else unescape(user),
        None if pw is None else unescape(pw),
        host,
        None if port is None else int(port),
        split_params(params[1:]) if params else (),
        split_params(hdrs.replace("&", ";"), "URI header") if hdrs is not None else (),
    )


def parse_hostport(text: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 references in brackets); validate both parts."""
    if text.startswith("["):
        end = text.find("]")
        host, after = text[: end + 1], text[end + 1 :]
        inner = host[1:-1]
        if end < 0 or not inner or not set(inner.lower()) <= set("0123456789abcdef:."):
            raise SipParseError(f"bad IPv6 reference {text!r}")
        if after and not after.startswith(":"):
            raise SipParseError(f"bad host {text!r}")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
        if not host or not set(host) <= _HOST_OK:
            raise SipParseError(f"bad host {text!r}")
    if port_text is None:
        return host, None
    ok = port_text.isdigit() and port_text.isascii() and len(port_text) <= 5
    if not ok or int(port_text) > 65535:
        raise SipParseError(f"bad port in {text!r}")
    return host, int(port_text)


def _parse_tel(rest: str) -> TelUri:
    number, semi, params = rest.partition(";")
    if not number or any(ch not in _TEL_OK for ch in number):
        raise SipParseError(f"bad tel number {rest!r}")
    return TelUri(unescape(number), split_params(params) if semi else ())
