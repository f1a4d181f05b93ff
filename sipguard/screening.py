"""The one bridge between the SIP core and the policy: a parsed request becomes call facts.

Invariants:
- This is the only module that imports both ``sipguard.sip`` and ``sipguard.policy``; every
  front end (``check``, ``replay``, ``serve``, the Kamailio plugin) builds facts here, so a
  number is extracted from a URI in exactly one way (spec section 2, step 1).
- Pure: no I/O, no clock; the caller passes the source address and the time.
- Malformed headers the policy needs (From, PAI, PPI, RPID, Diversion, History-Info,
  Request-URI) raise ``SipParseError`` with status 400, like any other malformed request.
- Identity headers (rules 1.1 section 1): every PAI and PPI value of every field, and the
  Remote-Party-ID values whose ``party`` is ``calling`` or absent, in that order.  Facts
  list them only when there is more than one PAI value or any PPI or RPID; one PAI value
  alone travels as ``pai_user`` (the policy reads both forms the same way).
- ``lean_uri``/``lean_address`` read user and host with one regular expression, and only
  for a strict subset of the grammar (no %-escapes, no password, no URI headers, 4-digit
  ports, plain parameters) that the full parser accepts with the same answer; anything
  else returns None and ``facts_from_request`` falls back to the full parser, so the facts
  (and every SipParseError) are the same either way.
"""

from __future__ import annotations

import re
from datetime import datetime

from sipguard.policy import CallFacts, Ruleset, State, Verdict, evaluate
from sipguard.policy.identity import PAI, PPI, RPID, RPID_HIDING
from sipguard.sip import Request, SipUri, TelUri, Uri, parse_address, parse_uri
from sipguard.sip.address import Address, param
from sipguard.sip.headers import split_commas

__all__ = [
    "diverting_number",
    "facts_from_fields",
    "facts_from_request",
    "identity_values",
    "lean_address",
    "lean_uri",
    "privacy_values",
    "screen",
    "uri_host",
    "uri_number",
    "uri_user",
]


# Possessive quantifiers (``++``, ``*+``, ``?+``) never give characters back: every class is
# followed by a character outside it, so nothing a backtracking match would find is lost.
_PCHARS = r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]++"
_LEAN_URI = (
    r"(?:[Ss][Ii][Pp][Ss]?:([A-Za-z0-9\-_.!~*'()&=+$,;]++)@"
    r"(\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9\-.]++)(?::[0-9]{1,4}+)?+"
    r"|[Tt][Ee][Ll]:([A-Za-z0-9\-_.!~*'()\[\]/:&+$=#]++))"
    rf"((?:;{_PCHARS}(?:={_PCHARS})?+)*+)"
)
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]"
_LEAN_URI_RE = re.compile(_LEAN_URI)
_LEAN_ADDRESS_RE = re.compile(
    rf'[ \t]*+(?:"[^"\\]*+"[ \t]*+|[A-Za-z0-9\-.!%*_+`\'~ \t]*+)<{_LEAN_URI}>'
    rf"(?:[ \t]*+;[ \t]*+{_TOKEN}++(?:[ \t]*+=[ \t]*+[!#-:<-~]++)?+)*+[ \t]*+"
)
Lean = tuple[str | None, str | None]


def lean_uri(text: str) -> Lean | None:
    """(``uri_number``, ``uri_host``) of a URI in the lean subset, or None outside it."""
    match = _LEAN_URI_RE.fullmatch(text)
    return None if match is None else _lean(*match.groups())


def lean_address(text: str) -> Lean | None:
    """(user, host) of a name-addr whose URI is in the lean subset, or None otherwise."""
    match = _LEAN_ADDRESS_RE.fullmatch(text)
    return None if match is None else _lean(*match.groups())


def _lean(user: str | None, host: str | None, number: str | None, params: str) -> Lean | None:
    """(user, host) of the pattern's groups; a sip user's or a tel RFC 3966 parameter: None."""
    if user is None or host is None:
        if params and _TEL_PARAM_RE.search(params):
            return None
        return number, None
    if ";" in user:
        return None
    return user, host.lower()


_TEL_PARAMS = ("phone-context", "ext", "isub")
_TEL_PARAM_RE = re.compile(r";[ \t]*(?:phone-context|ext|isub)\b", re.IGNORECASE)


def uri_number(uri: Uri) -> str | None:
    """``uri_user``, but a tel URI keeps ``phone-context``, ``ext`` and ``isub`` and a
    ``user=phone`` sip URI its user parameters: the number the policy reads (rules 1.1 s. 2)."""
    if isinstance(uri, SipUri):
        user = uri.user
        if user is None or ";" not in user:
            return user
        return user if (uri.param("user") or "").lower() == "phone" else user.split(";", 1)[0]
    if isinstance(uri, TelUri):
        number = uri.number.split(";", 1)[0]
        kept = [n if v is None else f"{n}={v}" for n, v in uri.params if n.lower() in _TEL_PARAMS]
        return ";".join([number, *kept])
    return None


def uri_user(uri: Uri) -> str | None:
    """The user part of a sip/sips URI or a tel URI's number, parameters dropped (or None)."""
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
    """The distinct priv-values of the Privacy headers (RFC 3323), lower-cased, in the order
    each first appears: what a call's facts keep, however long a list the caller sent."""
    tokens = (t.strip().lower() for v in values for t in v.replace(",", ";").split(";"))
    return tuple(dict.fromkeys(t for t in tokens if t))


def facts_from_request(
    req: Request, source_ip: str, source_port: int | None, transport: str = "udp"
) -> CallFacts:
    """Call facts for an initial INVITE received from ``source_ip:source_port``."""
    headers = req.headers
    value = headers.get("from")
    found = None if value is None else lean_address(value)
    if found is None:
        from_uri = req.from_.uri
        found = uri_number(from_uri), uri_host(from_uri)
    pai_user = _pai_user(req)
    identities: Identities = ()
    rpid_hidden = False
    first = headers.first()  # lookup keys: one dict probe per optional header
    if _listed(req, first):
        rpids = _field_addresses(headers.get_fields("remote-party-id"))
        pais, ppis = req.addresses("p-asserted-identity"), req.addresses("p-preferred-identity")
        identities, rpid_hidden = identity_values(pais, ppis, rpids)
    forwarded, diverting = False, None
    if "diversion" in first or "history-info" in first:
        forwarded, diverting = diverting_number(
            _field_addresses(headers.get_fields("diversion")),
            _field_addresses(headers.get_fields("history-info")),
        )
    ruri = lean_uri(req.uri)
    return CallFacts(
        req.call_id,
        source_ip,
        source_port,
        found[0],
        found[1],
        pai_user,
        uri_number(req.request_uri) if ruri is None else ruri[0],
        privacy_values(headers.get_all("privacy")) if headers.get_fields("privacy") else (),
        transport.lower(),
        identities,
        rpid_hidden,
        forwarded,
        diverting,
    )


Identities = tuple[tuple[str, str | None], ...]


def _listed(req: Request, first: dict[str, str]) -> bool:
    """True when the identity headers go beyond one PAI value (spec 1.1 section 1)."""
    if "p-preferred-identity" in first or "remote-party-id" in first:
        return True
    if "p-asserted-identity" not in first:
        return False
    fields = req.headers.get_fields("p-asserted-identity")
    return len(fields) > 1 or (len(fields) == 1 and "," in fields[0])


def identity_values(
    pais: list[Address], ppis: list[Address], rpids: list[Address]
) -> tuple[Identities, bool]:
    """(header, user) of every identity value in precedence order, and RPID privacy hiding.

    An RPID counts when its ``party`` is ``calling`` or absent; ``screen`` is never trusted."""
    out = [(PAI, uri_number(a.uri)) for a in pais] + [(PPI, uri_number(a.uri)) for a in ppis]
    hidden = False
    for rpid in rpids:
        party = param(rpid.params, "party")
        if party is not None and party.lower() != "calling":
            continue
        out.append((RPID, uri_number(rpid.uri)))
        hidden = hidden or (param(rpid.params, "privacy") or "").lower() in RPID_HIDING
    if len(out) == 1 and out[0][0] == PAI:
        return (), hidden  # one PAI value alone travels as ``pai_user``
    return tuple(out), hidden


def _pai_user(req: Request) -> str | None:
    """The user of the first P-Asserted-Identity; every value must parse, as for the rest."""
    fields = req.headers.get_fields("p-asserted-identity")
    if not fields:
        return None
    if len(fields) == 1 and "," not in fields[0]:
        found = lean_address(fields[0])
        if found is not None:
            return found[0]
    pais = req.addresses("p-asserted-identity")
    return uri_number(pais[0].uri) if pais else None


def _field_addresses(fields: list[str]) -> list[Address]:
    return [address for field in fields for address in _addresses(field)]


def _index(entry: Address) -> tuple[int, ...]:
    """The History-Info ``index`` (RFC 7044) as numbers; an entry without one sorts first."""
    parts = (param(entry.params, "index") or "").split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() and p.isascii() for p in parts) else ()


def diverting_number(diversions: list[Address], history: list[Address]) -> tuple[bool, str | None]:
    """(forwarded, raw diverting number): the first Diversion value, or with two History-Info
    entries or more, the one just before the last in index order (rules 1.1 section 3)."""
    if diversions:
        return True, uri_number(diversions[0].uri)
    if len(history) < 2:
        return False, None
    ordered = sorted(history, key=_index)
    return True, uri_number(ordered[-2].uri)


def _addresses(text: str | None) -> list[Address]:
    if not text or not text.strip():
        return []
    return [parse_address(v) for v in split_commas(text)]


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
    ppi_header: str | None = None,
    rpid_header: str | None = None,
    diversion_header: str | None = None,
    history_info_header: str | None = None,
) -> CallFacts:
    """Call facts from header texts another SIP stack has split out, parsed as
    ``facts_from_request`` parses them; list headers hold every value, comma-joined."""
    from_uri = parse_address(from_header).uri
    pais, ppis, rpids = _addresses(pai_header), _addresses(ppi_header), _addresses(rpid_header)
    identities, rpid_hidden = identity_values(pais, ppis, rpids)
    forwarded, diverting = diverting_number(
        _addresses(diversion_header), _addresses(history_info_header)
    )
    return CallFacts(
        call_id=call_id.strip(),
        source_ip=source_ip,
        source_port=source_port,
        from_user=uri_number(from_uri),
        from_host=uri_host(from_uri),
        pai_user=uri_number(pais[0].uri) if pais else None,
        ruri_user=uri_number(parse_uri(request_uri.strip())),
        privacy=privacy_values([privacy_header]) if privacy_header else (),
        transport=transport.lower(),
        identities=identities,
        rpid_hidden=rpid_hidden,
        forwarded=forwarded,
        diverting_user=diverting,
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
