"""Where a response goes: ``received`` and ``rport`` on the top Via (RFC 3261 section 18.2,
RFC 3581).

Invariants:
- ``stamp`` is applied to every request before anything answers it (section 18.2.1): the
  top Via gets ``received=<source host>`` when its sent-by host differs from the packet's
  source, and an empty ``rport`` gets the source port (RFC 3581 section 4); every response
  copies that Via, so the answer tells the client where it was seen from;
- a request whose top Via needs nothing keeps its very Headers object (no copy); one that
  does gets a copy with that one field rewritten, and what was parsed from its other
  headers stays parsed (``message.with_header``), and the stamped top Via is handed over
  parsed (it is what ``parse_via`` reads back from the field written: ``str`` of a Via
  round-trips);
- ``reply_to`` follows section 18.2.2 and RFC 3581 section 4: over TCP the answer uses the
  connection the request came on; over UDP it goes to the source address, at the source
  port when ``rport`` was asked for, else at the sent-by port (5060 when none is given);
- ``stateless`` answers without a transaction: one packet, never retransmitted;
- pure: no I/O, no clock.
"""

from __future__ import annotations

from sipguard.b2bua.effects import Addr, Transmit
from sipguard.b2bua.headers import make_response
from sipguard.sip.address import param
from sipguard.sip.headers import split_commas
from sipguard.sip.message import Request, with_header, with_parsed
from sipguard.sip.uri import Params
from sipguard.sip.via import Via
from sipguard.sip.wire import serialise


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _stamped(via: Via, source: Addr) -> Via | None:
    """``via`` with ``received``/``rport`` filled in, or None when it needs neither."""
    add_received = _bare(via.host).lower() != source.host.lower()
    fill_rport = param(via.params, "rport") == ""
    if not add_received and not fill_rport:
        return None
    params: list[tuple[str, str | None]] = []
    for name, value in via.params:
        low = name.lower()
        if low == "received":
            continue  # a received the client wrote itself says nothing (18.2.1)
        params.append((name, str(source.port)) if low == "rport" and not value else (name, value))
    if add_received:
        params.append(("received", source.host))
    out: Params = tuple(params)
    return Via(via.transport, via.host, via.port, out, via.protocol)


def stamp(req: Request, source: Addr) -> Request:
    """``req`` with its top Via stamped per section 18.2.1 and RFC 3581 (or ``req`` itself)."""
    top = _stamped(req.top_via, source)  # the top one only: a chain may be long
    if top is None:
        return req
    h = req.headers
    parts = split_commas(h.get_fields("via")[0])
    headers = with_header(h, "via", ", ".join([str(top), *parts[1:]]))
    headers = with_parsed(headers, "top_via", top)
    return Request(req.method, req.uri, headers, req.body, req.version)


def reply_to(req: Request, source: Addr) -> Addr:
    """Where responses to ``req`` (received from ``source``) are sent (section 18.2.2)."""
    if source.transport != "udp":
        return source
    via = req.top_via
    if via.has_rport:
        return source
    return Addr(source.host, via.port or 5060, source.transport)


def stateless(
    req: Request,
    source: Addr,
    status: int,
    extra: tuple[tuple[str, str], ...] = (),
    phrase: str | None = None,
) -> Transmit:
    """A response to ``req`` sent without a transaction (no To tag, nothing retransmitted)."""
    resp = make_response(req, status, None, extra, reason=phrase)
    return Transmit(serialise(resp), reply_to(req, source))
