"""Host and port text, as written in ``listen:``, ``--listen``, ``--source`` and ``--metrics``.

Invariants:
- One parser for every such address in sipguard, so the rules, the CLI, the call core and
  the Kamailio config writer can never disagree about what an address means.
- Accepted forms: ``HOST``, ``HOST:PORT``, ``[V6]`` and ``[V6]:PORT``; a bare IPv6 address
  without brackets is a host with no port.  A bracketed host must be a valid IPv6 address.
- A port is ASCII digits in 1..65535.  Port 0 ("any free port") is accepted only where the
  caller asks for it with ``ephemeral=True`` (a listen address given on the command line);
  the rules file and source addresses never take it.
- Pure: no I/O, no name resolution.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

SIP_PORT = 5060
DEFAULT_LISTEN = f"127.0.0.1:{SIP_PORT}"


@dataclass(frozen=True, slots=True)
class HostPort:
    """A host (IPv6 without brackets) and an optional port."""

    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def with_port(self, default: int) -> tuple[str, int]:
        """(host, port), with ``default`` standing in for a missing port."""
        return self.host, default if self.port is None else self.port


def parse_hostport(
    text: str, *, default_port: int | None = None, ephemeral: bool = False
) -> HostPort:
    """Parse ``text``; raise ValueError with the reason when it is not an address."""
    host, port = _split(text.strip())
    if not host:
        raise ValueError(f"bad address {text!r}: no host")
    number = _port(port, text, ephemeral=ephemeral) if port is not None else default_port
    return HostPort(host, number)


def _split(text: str) -> tuple[str, str | None]:
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {text!r}: expected [V6] or [V6]:PORT")
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError(f"bad address {text!r}: bad IPv6 address") from exc
        return host, rest[1:] if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


def _port(text: str, whole: str, *, ephemeral: bool) -> int:
    lowest = 0 if ephemeral else 1
    if not (text.isascii() and text.isdigit()) or not lowest <= int(text) <= 65535:
        raise ValueError(f"bad port in {whole!r}: expected {lowest}..65535")
    return int(text)
