"""The Via header (RFC 3261 sections 18.2.2, 20.42 and 25.1).

Invariants:
- ``SIP / 2.0 / UDP`` with any linear white space around the slashes is accepted
  (RFC 4475 section 3.1.1.1); the transport is stored in upper case;
- ``sent-by`` is ``host[:port]``; an IPv6 host keeps its brackets;
- parameters are generic-params; ``branch``, ``received`` and ``rport`` have accessors;
- parsing costs time linear in the text, however much white space it holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipguard.errors import SipParseError
from sipguard.sip.address import param, params_str, split_header_params
from sipguard.sip.uri import Params, parse_hostport

_TOKEN = r"[A-Za-z0-9.!%*_+`'~-]+"
# The common case, taken apart by one match; port at most 59999 so no range check is due.
_PLAIN = re.compile(
    rf"SIP/2\.0/({_TOKEN}+) (\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9.\-]++)"
    r"(?::([1-5][0-9]{4}|[0-9]{1,4}))?"
    rf"((?:;{_TOKEN}+(?:=[A-Za-z0-9.!%*_+`'~:\[\]@/\-]++)?)*+)"
)
_COLON_SPACE = re.compile(r"\s:|:\s")
# Every quantifier is followed by a character it cannot match, so matching is linear.
_SENT = re.compile(rf"\s*({_TOKEN})\s*/\s*({_TOKEN})\s*/\s*({_TOKEN})\s+(\S.*)", re.S)


@dataclass(frozen=True, slots=True, init=False)
class Via:
    """One Via value: transport, sent-by host and port, parameters."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: Params = (),
        protocol: str = "SIP/2.0",
    ) -> None:
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "protocol", protocol)

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter, or None."""
        return param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter (RFC 3261 section 18.2.1), or None."""
        return param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value (RFC 3581); None when absent or present without a value."""
        value = param(self.params, "rport")
        if value and len(value) <= 5 and value.isascii() and value.isdigit():
            return int(value)
        return None

    @property
    def has_rport(self) -> bool:
        """True when the ``rport`` parameter is present, with or without a value."""
        return param(self.params, "rport") is not None

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{params_str(self.params)}"


def parse_via(text: str) -> Via:
    """Parse one Via value (already split at top-level commas)."""
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        return _plain_via(*plain.groups())
    return parse_via_general(text)


def parse_via_general(text: str) -> Via:
    """Parse any Via value; ``parse_via`` gives the same result, faster for plain ones."""
    head, semi, tail = text.partition(";")
    m = _SENT.match(head.rstrip())
    if m is None:
        raise SipParseError(f"bad Via {text[:60]!r}")
    name, version, transport, sent_by = m.groups()
    if _COLON_SPACE.search(sent_by) is not None:
        sent_by = ":".join(part.strip() for part in sent_by.split(":"))
    host, port = parse_hostport(sent_by)
    params = split_header_params(";" + tail) if semi else ()
    return Via(transport.upper(), host, port, params, f"{name.upper()}/{version}")


def _plain_via(transport: str, host: str, port: str | None, params: str) -> Via:
    """The Via a plain value (``_PLAIN``) parses to: no white space, quotes or escapes."""
    pairs: list[tuple[str, str | None]] = []
    for item in params[1:].split(";") if params else ():
        name, eq, value = item.partition("=")
        pairs.append((name, value if eq else None))
    return Via(transport.upper(), host, None if port is None else int(port), tuple(pairs))
