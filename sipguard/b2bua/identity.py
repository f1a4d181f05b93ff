"""Who we are on the wire: our address in Via and Contact, and the identifiers we mint.

Invariants:
- identifiers we mint (tags, branches, Call-IDs) are unique per instance: a random salt
  plus a counter, so no clock is read;
- a branch always starts with the RFC 3261 magic cookie ``z9hG4bK`` (section 8.1.1.7);
- ``hostport`` brackets an IPv6 host, so Via and Contact stay parseable.
"""

from __future__ import annotations

import itertools
import secrets

from sipguard.b2bua.effects import Addr
from sipguard.sip.transaction import MAGIC_COOKIE


class Identity:
    """Our address and a source of fresh identifiers."""

    def __init__(self, local: Addr) -> None:
        self.local = local
        self._counter = itertools.count(1)
        self._salt = secrets.token_hex(4)
        host = local.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        self._hostport = f"{host}:{local.port}"

    def token(self) -> str:
        """A fresh identifier, unique within this instance."""
        return f"{self._salt}{next(self._counter):x}"

    def hostport(self) -> str:
        """Our host:port as written in Via and Contact."""
        return self._hostport

    def branch(self) -> str:
        """A fresh Via branch (magic cookie first)."""
        return MAGIC_COOKIE + self.token()

    def via(self, transport: str, branch: str | None = None) -> str:
        """Our Via value for a request sent over ``transport`` (a fresh branch by default)."""
        branch = branch or self.branch()
        return f"SIP/2.0/{transport.upper()} {self._hostport};branch={branch};rport"

    def contact(self, transport: str = "udp") -> str:
        """Our Contact value for a leg on ``transport``."""
        param = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{self._hostport}{param}>"
