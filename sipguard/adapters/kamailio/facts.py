"""CallFacts from Kamailio's own parse of a request, read through ``KSR.pv``.

Invariants:
- The facts are the same :class:`~sipguard.policy.facts.CallFacts` that the B2BUA builds
  from its own parser, so the same ``evaluate`` decides: URIs are taken whole from Kamailio
  (``$fu``, ``$ai``, ``$ru``) and split into user and host by sipguard's URI parser
  and read by the screening bridge's own helpers (``uri_number``, ``uri_host``,
  ``privacy_values``), so a number is extracted from a URI in exactly one way.
- A URI that does not parse yields no user part: for the caller that means "no caller
  number" (CALLER_HIDDEN outbound), never an exception in Kamailio's worker.
- Privacy (RFC 3323 section 4.2) is read from every Privacy header (``$(hdr(Privacy)[*])``):
  priv-values are split on ``;`` and ``,`` and lower-cased.
- Identity headers (rules 1.1 section 1): every P-Asserted-Identity, P-Preferred-Identity and
  Remote-Party-ID value (``$(hdr(NAME)[*])``) is read by the bridge's ``identity_values``;
  without PAI header text the first PAI URI ``$ai`` stands for it.  An identity header that
  does not parse hides the caller (the B2BUA answers such a request 400), so a malformed
  header never walks around the checks.
- Diversion and History-Info (rules 1.1 section 3) are read the same way; one that does not
  parse makes the request forwarded with no diverting number (FORWARD_UNVERIFIED on a
  forwarding trunk).
"""

from __future__ import annotations

from typing import Protocol

from sipguard.errors import SipParseError
from sipguard.policy.facts import CallFacts
from sipguard.screening import (
    diverting_number,
    identity_values,
    privacy_values,
    uri_host,
    uri_number,
)
from sipguard.sip.address import Address, parse_address
from sipguard.sip.headers import split_commas
from sipguard.sip.uri import Uri, parse_uri


class PvReader(Protocol):
    """The part of ``KSR.pv`` the facts need: ``get`` returns None for a null variable."""

    def get(self, name: str) -> object: ...


def _uri(text: object) -> Uri | None:
    """The parsed URI of a pseudo-variable's value, or None when it is null or malformed."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return parse_uri(text.strip())
    except SipParseError:
        return None


def uri_parts(text: object) -> tuple[str | None, str | None]:
    """(user, host) of a URI as the screening bridge reads them; (None, None) if unusable."""
    uri = _uri(text)
    if uri is None:
        return None, None
    return uri_number(uri), uri_host(uri)


def _text(pv: PvReader, name: str) -> str | None:
    value = pv.get(name)
    return value if isinstance(value, str) and value else None


def _port(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _addresses(pv: PvReader, header: str) -> list[Address] | None:
    """Every value of one identity header; None when one of them does not parse."""
    text = _text(pv, f"$(hdr({header})[*])")
    if text is None:
        return []
    try:
        return [parse_address(v) for v in split_commas(text)]
    except SipParseError:
        return None


def _identities(pv: PvReader) -> tuple[str | None, tuple[tuple[str, str | None], ...], bool]:
    """(first PAI user, identity values, hidden) of rules 1.1 section 1."""
    pais = _addresses(pv, "P-Asserted-Identity")
    ppis = _addresses(pv, "P-Preferred-Identity")
    rpids = _addresses(pv, "Remote-Party-ID")
    if pais is None or ppis is None or rpids is None:
        return None, (), True
    if pais:
        pai_user: str | None = uri_number(pais[0].uri)
    else:
        pai_user = uri_parts(pv.get("$ai"))[0]
    identities, hidden = identity_values(pais, ppis, rpids)
    if not pais and pai_user is not None and identities:
        identities = (("p-asserted-identity", pai_user), *identities)
    return pai_user, identities, hidden


def _forward(pv: PvReader) -> tuple[bool, str | None]:
    """(forwarded, raw diverting number); an unparsable one is forwarded with no number."""
    diversions = _addresses(pv, "Diversion")
    history = _addresses(pv, "History-Info")
    if diversions is None or history is None:
        return True, None
    return diverting_number(diversions, history)


def facts_from_pv(pv: PvReader) -> CallFacts:
    """Build the CallFacts of the current initial INVITE from Kamailio pseudo-variables."""
    from_user, from_host = uri_parts(pv.get("$fu"))
    pai_user, identities, hidden = _identities(pv)
    forwarded, diverting = _forward(pv)
    ruri_user, _ = uri_parts(pv.get("$ru"))
    transport = _text(pv, "$pr") or "udp"
    return CallFacts(
        call_id=_text(pv, "$ci") or "",
        source_ip=_text(pv, "$si") or "",
        source_port=_port(pv.get("$sp")),
        from_user=from_user,
        from_host=from_host,
        pai_user=pai_user,
        ruri_user=ruri_user,
        privacy=privacy_values([_text(pv, "$(hdr(Privacy)[*])") or ""]),
        transport=transport.lower(),
        identities=identities,
        rpid_hidden=hidden,
        forwarded=forwarded,
        diverting_user=diverting,
    )
