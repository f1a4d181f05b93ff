"""Calls that reach a node through a trusted Kamailio front: screened as from their origin.

Invariants:
- Only a request whose packet came from a trusted front address has its
  ``X-Sipguard-Source`` read; from anyone else the header means nothing, so a caller
  cannot claim another trunk's address by writing it.
- The origin changes only what the policy sees (trunk, direction, peer checks).  Responses
  and transactions keep using the packet's real source, the front, so every reply goes
  back the way the request came (RFC 3261 section 18.2.2).
- A front's request without the header, or with one that does not parse, is screened as
  from the front itself: it is then an unlisted source, never a trunk.
- A stamped origin in no peer list is a stranger like any other (rate-limited, sampled,
  one stateless 403), answered through the front; the front's own unstamped traffic
  (in-dialog requests, responses, its probes) is handled as from a listed peer.
"""

from __future__ import annotations

from sipguard.b2bua.effects import Addr
from sipguard.sip.message import Request

SOURCE_HEADER = "x-sipguard-source"
TRANSPORTS = frozenset({"udp", "tcp", "tls", "sctp", "ws", "wss"})


def parse_source(value: str) -> Addr | None:
    """``HOST;port=P;transport=T`` as written by the front, or None when malformed."""
    host, *params = (part.strip() for part in value.split(";"))
    fields: dict[str, str] = {}
    for param in params:
        name, sep, val = param.partition("=")
        if not sep:
            return None
        fields[name.strip().lower()] = val.strip().lower()
    port = fields.get("port", "")
    transport = fields.get("transport", "udp")
    if not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if transport not in TRANSPORTS or any(c.isspace() for c in host):
        return None
    return Addr(host.strip("[]"), int(port), transport)


def origin(req: Request, source: Addr, fronts: frozenset[str]) -> Addr:
    """Where ``req`` really came from: the front's stamp when ``source`` is a front."""
    if source.host not in fronts:
        return source
    value = req.headers.get(SOURCE_HEADER)
    if value is None:
        return source
    return parse_source(value) or source


def own(who: Addr, source: Addr, fronts: frozenset[str]) -> bool:
    """True when a request is the front's own traffic (unstamped), not a relayed caller's."""
    return who == source and source.host in fronts
