"""Addresses: name-addr and addr-spec (RFC 3261 sections 20.10, 20.20, 20.39 and 25.1).

Used for From, To, Contact, Route, Record-Route and P-Asserted-Identity (RFC 3325 section 9).

Invariants:
- ``display`` is the display name without quotes or backslash escapes, or None when absent;
- in the addr-spec form (no angle brackets) everything after the first ``;`` is a header
  parameter, never a URI parameter (section 20.10);
- header parameters keep their values as written (a quoted value keeps its quotes);
- ``str(address)`` always writes the name-addr form, so ``parse_address(str(a)) == a``;
- parsing costs time linear in the text: every pattern is possessive, and quoted strings
  and parameters are taken apart by patterns and ``str`` methods, not character by character.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from sipguard.errors import SipParseError
from sipguard.sip.uri import Params, Uri, parse_uri

TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
_DISPLAY_TOKEN_CHARS = TOKEN_CHARS | frozenset(" \t")
# ``;name`` or ``;name=value`` pairs: token names, values not blank (white space around
# both is allowed).  Possessive, so a match is linear in the text.
_SIMPLE_PARAMS = re.compile(r"(?:;\s*+[!%'*+\-.0-9A-Za-z_`~]++\s*+(?:=\s*+[^;\s][^;]*+)?)++")
_QUOTED = re.compile(r'"([^"\\]*+(?:\\[\s\S][^"\\]*+)*+)"')
_ESCAPED = re.compile(r"\\([\s\S])")  # split() keeps the escaped character
_URI_BAD = re.compile(r"[ \t<>]")


@dataclass(frozen=True, slots=True, init=False)
class Address:
    """A display name, a URI and the header parameters that follow it."""

    display: str | None
    uri: Uri
    params: Params = ()

    def __init__(self, display: str | None, uri: Uri, params: Params = ()) -> None:
        object.__setattr__(self, "display", display)
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "params", params)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (RFC 3261 section 19.3), or None."""
        return param(self.params, "tag")

    def __str__(self) -> str:
        head = f"<{self.uri}>"
        if self.display is not None:
            quoted = self.display.replace("\\", "\\\\").replace('"', '\\"')
            head = f'"{quoted}" {head}'
        return head + params_str(self.params)


def param(params: Params, name: str) -> str | None:
    """Return the value of parameter ``name`` (case-insensitive); ``""`` for a bare flag."""
    low = name.lower()
    for n, v in params:
        if n == low or n.lower() == low:  # a name written in lower case needs no lower()
            return "" if v is None else v
    return None


def params_str(params: Params) -> str:
    """Write header parameters as ``;name=value`` pairs."""
    return "".join([f";{n}" if v is None else f";{n}={v}" for n, v in params])


def parse_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted-string opening at ``text[start]``; return (content, index after it)."""
    m = _QUOTED.match(text, start)
    if m is None:
        raise SipParseError(f"unterminated quoted string in {text[:60]!r}")
    return _unescape_quoted(m.group(1)), m.end()


def _unescape_quoted(content: str) -> str:
    """Drop the backslash of each ``\\x`` pair (the pattern guarantees every one has a pair).

    Pairs of backslashes are set aside first, so a lone backslash left over always escapes
    the character after it; three ``str.replace`` passes, whatever the content.
    """
    if "\\" not in content:
        return content
    if "\x00" in content:
        return "".join(_ESCAPED.split(content))
    return content.replace("\\\\", "\x00").replace("\\", "").replace("\x00", "\\")


def split_header_params(text: str) -> Params:
    """Parse ``;a=1 ; b ; c="x;y"`` (generic-params); names must be tokens."""
    text = text.strip()
    if not text:
        return ()
    if text[0] != ";":
        raise SipParseError(f"junk before parameters: {text!r}")
    if '"' not in text:
        return _simple_params(text)
    out: list[tuple[str, str | None]] = []
    i = 1
    n = len(text)
    while True:
        j = i
        while j < n and text[j] != ";":
            if text[j] == '"':
                j = parse_quoted(text, j)[1]
            else:
                j += 1
        name, eq, value = text[i:j].partition("=")
        name, value = name.strip(), value.strip()
        if not name or not set(name) <= TOKEN_CHARS or (eq and not value):
            raise SipParseError(f"bad parameter {text[i:j]!r}")
        out.append((name, value if eq else None))
        if j >= n:
            return tuple(out)
        i = j + 1


def _simple_params(text: str) -> Params:
    if _SIMPLE_PARAMS.fullmatch(text) is None:
        raise SipParseError(f"bad parameters {text[:60]!r}")
    out: list[tuple[str, str | None]] = []
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        out.append((name.strip(), value.strip() if eq else None))
    return tuple(out)


def parse_address(text: str) -> Address:
    """Parse a name-addr or addr-spec with its header parameters."""
    s = text.strip()
    if not s:
        raise SipParseError("empty address")
    display: str | None = None
    if s[0] == '"':
        display, end = parse_quoted(s, 0)
        rest = s[end:].lstrip()
        if not rest.startswith("<"):
            raise SipParseError(f"display name without <URI>: {text!r}")
    else:
        lt = s.find("<")
        if lt < 0:
            uri_text, _, tail = s.partition(";")
            return Address(None, _uri(uri_text), split_header_params(";" + tail if tail else ""))
        tokens = s[:lt].strip()
        if tokens:
            if not set(tokens) <= _DISPLAY_TOKEN_CHARS:
                raise SipParseError(f"bad display name {tokens!r}")
            display = tokens
        rest = s[lt:]
    gt = rest.find(">")
    if gt < 0:
        raise SipParseError(f"unterminated <URI> in {text!r}")
    return Address(display, _uri(rest[1:gt]), split_header_params(rest[gt + 1 :]))


def _uri(text: str) -> Uri:
    t = text.strip()
    if not t or _URI_BAD.search(t) is not None:
        raise SipParseError(f"bad URI {text!r}")
    return parse_uri(t)
