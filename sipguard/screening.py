"""The one bridge between the SIP core and the policy: a parsed request becomes call facts.

Invariants:
- This is the only module that imports both ``sipguard.sip`` and ``sipguard.policy``; every
  front end (``check``, ``replay``, ``serve``, the Kamailio plugin) builds facts here, so a
  number is extracted from a URI in exactly one way (spec section 2, step 1).
- Pure: no I/O, no clock; the caller passes the source address and the time.
- Malformed headers the policy needs (From, P-Asserted-Identity, Request-URI) raise
  ``SipParseError`` with status 400, like any other malformed request.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.policy import CallFacts, Ruleset, State, Verdict, evaluate
from sipguard.sip import Request, SipUri, TelUri, Uri, parse_address, parse_uri
from sipguard.sip.headers import split_commas

__all__ = [
    "facts_from_fields",
    "facts_from_request",
    "privacy_values",
    "screen",
    "uri_host",
    "uri_user",
]


def uri_user(uri: Uri) -> str | None:
    """The user part of a sip/sips URI or the number of a tel URI, parameters dropped.

    A telephone-subscriber user part such as ``4008001234;phone-context=+86`` keeps only the
    number.  Other schemes carry no user: None.
    """
    if isinstance(uri, SipUri):
        if uri.user is None:
            return None
        return uri.user.split(";", 1)[0]
    if isinstance(uri, TelUri):
        return uri.number.split(";", 1)[0]
    return None


def uri_host(uri: Uri) -> str | None:
    """The host of a sip/sips URI, lower-cased; None for other schemes."""
    return uri.host.lower() if isinstance(uri, SipUri) else None


def privacy_values(values: list[str]) -> tuple[str, ...]:
    """Every priv-value of the Privacy headers (RFC 3323), lower-cased, in order."""
    out: list[str] = []
    for value in values:
        for token in value.replace(",", ";").split(";"):
            token = token.strip().lower()
            if token:
                out.append(token)
    return tuple(out)


def facts_from_request(
    req: Request, source_ip: str, source_port: int | None, transport: str = "udp"
) -> CallFacts:
    """Call facts for an initial INVITE received from ``source_ip:source_port``."""
    from_uri = req.from_.uri
    pais = req.addresses("p-asserted-identity")
    return CallFacts(
        call_id=req.call_id,
        source_ip=source_ip,
        source_port=source_port,
        from_user=uri_user(from_uri),
        from_host=uri_host(from_uri),
        pai_user=uri_user(pais[0].uri) if pais else None,
        ruri_user=uri_user(req.request_uri),
        privacy=privacy_values(req.headers.get_all("privacy")),
        transport=transport.lower(),
    )


def facts_from_fields(
    *,
    call_id: str,
    source_ip: str,
    source_port: int | None,
    from_header: str,
    request_uri: str,
    pai_header: str | None = None,
    privacy_header: str | None = None,
    transport: str = "udp",
) -> CallFacts:
    """Call facts from header texts another SIP stack has already split out (Kamailio).

    ``from_header`` and ``pai_header`` are name-addr or addr-spec values; only the first
    PAI value counts.  Parsing goes through the same functions as ``facts_from_request``.
    """
    from_uri = parse_address(from_header).uri
    pai_user = None
    if pai_header and pai_header.strip():
        pai_user = uri_user(parse_address(split_commas(pai_header)[0]).uri)
    return CallFacts(
        call_id=call_id.strip(),
        source_ip=source_ip,
        source_port=source_port,
        from_user=uri_user(from_uri),
        from_host=uri_host(from_uri),
        pai_user=pai_user,
        ruri_user=uri_user(parse_uri(request_uri.strip())),
        privacy=privacy_values([privacy_header]) if privacy_header else (),
        transport=transport.lower(),
    )


def screen(
    req: Request,
    source_ip: str,
    source_port: int | None,
    rules: Ruleset,
    state: State,
    now: datetime,
    transport: str = "udp",
) -> tuple[CallFacts, Verdict]:
    """Facts and verdict for one initial INVITE: the whole decision path in one call."""
    facts = facts_from_request(req, source_ip, source_port, transport)
    return facts, evaluate(facts, rules, state, now)
