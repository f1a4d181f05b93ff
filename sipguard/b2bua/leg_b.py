"""Leg B's requests built from leg A's (the INVITE to the callee, its CANCEL) and its dialog.

RFC 3261 sections 8.1.1 and 9.1, RFC 3325 (asserted identity), RFC 3323 (privacy).

Invariants:
- leg B shares nothing with leg A but the body, its Content-Type, the allow-listed headers
  and the user parts of the Request-URI, From and To: Via, Contact, tags and Call-ID are
  ours (topology hiding);
- outbound calls assert the verified number (``<tel:+CC NSN>``) and nothing else: PAI,
  P-Preferred-Identity, Remote-Party-ID and Privacy of leg A never reach leg B, whatever
  the allow-list says; From's user is the verified number as ``+CC NSN``, and From and PAI
  carry no display name but the filed number's ``display_name`` (rules 1.1 section 1);
- a verified forward asserts the user's number (the verdict's caller) and passes Diversion
  and History-Info on;
- inbound calls pass the caller's P-Asserted-Identity on only when its Privacy does not
  ask to hide it;
- ``b_dialog`` equals ``Dialog.as_uac`` on leg B's INVITE (RFC 3261 section 12.1.2);
- a CANCEL copies its INVITE's Via (branch included), Route set, From, To, Call-ID and
  CSeq number (section 9.1), so the callee can match it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.b2bua.call import Leg
from sipguard.b2bua.headers import allowed_fields, display_of, host_uri, user_part
from sipguard.b2bua.identity import Identity
from sipguard.b2bua.outgoing import headers_of
from sipguard.policy.facts import Direction, Verdict
from sipguard.policy.identity import HIDING
from sipguard.policy.ruleset import Target
from sipguard.screening import privacy_values
from sipguard.sip.dialog import Dialog, DialogId
from sipguard.sip.keys import hop_request
from sipguard.sip.message import MAX_FORWARDS, Request, Response
from sipguard.sip.transaction import TxKey

# A verified forward passes its history on (rules 1.1 section 3).
_FORWARD_KEYS = frozenset({"diversion", "history-info"})
# Identity headers leg A may not pass to leg B of an outbound call, even if allow-listed.
_IDENTITY_KEYS = frozenset(
    {"p-asserted-identity", "p-preferred-identity", "remote-party-id", "privacy"}
)


@dataclass(frozen=True, slots=True, init=False)
class LegB:
    """Leg B's INVITE and the identifiers we minted for it (known without parsing)."""

    invite: Request
    tag: str  # our From tag
    key: TxKey  # its client transaction key (our branch, "INVITE")
    call_id: str
    seq: int = 1  # its CSeq number

    def __init__(self, invite: Request, tag: str, key: TxKey, call_id: str, seq: int = 1) -> None:
        object.__setattr__(self, "invite", invite)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "seq", seq)


def b_invite(
    a_req: Request,
    verdict: Verdict,
    target: Target,
    ids: Identity,
    allow: frozenset[str],
    country_code: str,
    display_name: str | None = None,
) -> LegB:
    """Leg B's INVITE: fresh identifiers, our Via and Contact, hidden topology.

    ``display_name`` is the filed number's, for an allowed outbound call.
    """
    host, branch, tag = ids.local.host, ids.branch(), ids.token()
    call_id = f"{ids.token()}@{host}"
    mf = a_req.max_forwards
    a_from = a_req.headers.get("from") or ""
    a_to = a_req.headers.get("to") or ""
    to_user = user_part(str(a_req.to.uri))
    outbound = verdict.direction is Direction.OUTBOUND
    if outbound:
        from_user = f"+{country_code}{verdict.caller}"
        display = f'"{display_name}" ' if display_name else ""
        allow = _outbound_allow(allow, forwarded=verdict.forwarded)
    else:
        from_user, display = user_part(str(a_req.from_.uri)), display_of(a_from)
    pairs = [
        ("Via", ids.via(target.transport, branch)),
        ("Max-Forwards", str((MAX_FORWARDS if mf is None else mf) - 1)),
        ("From", f"{display}<{host_uri(from_user, host)}>;tag={tag}"),
        ("To", f"{display_of(a_to)}<{host_uri(to_user, target.host)}>"),
        ("Call-ID", call_id),
        ("CSeq", "1 INVITE"),
        ("Contact", ids.contact(target.transport)),
    ]
    pairs += _identity(a_req, verdict, country_code, display if outbound else "")
    pairs += allowed_fields(a_req.headers, allow, a_req.body)
    ruri = host_uri(user_part(a_req.uri), target.host, target.port)
    invite = Request("INVITE", ruri, headers_of(pairs), a_req.body)
    return LegB(invite, tag, (branch, "INVITE"), call_id)


def _outbound_allow(allow: frozenset[str], *, forwarded: bool) -> frozenset[str]:
    """The allow-list of an outbound call: no identity headers; a forward's history goes on."""
    allow = allow - _IDENTITY_KEYS
    return allow | _FORWARD_KEYS if forwarded else allow  # rules 1.1 section 3


def b_dialog(leg: Leg, resp: Response) -> Dialog:
    """What ``Dialog.as_uac(leg.invite, resp)`` returns, from what we know of our INVITE.

    ``resp`` carries a To tag and passed ``dialog_problem``; our From, Call-ID and CSeq are
    taken from the leg instead of being parsed back from the INVITE we built.
    """
    h = resp.headers
    contacts = resp.addresses("contact") if "contact" in h else []
    return Dialog(
        id=DialogId(leg.call_id, leg.tag, resp.to.tag or ""),
        local=leg.invite.headers.get("from") or "",
        remote=h.get("to") or "",
        remote_target=str(contacts[0].uri) if contacts else leg.invite.uri,
        route_set=list(reversed(h.get_all("record-route"))),
        local_seq=leg.invite_seq,
        early=resp.status < 200,
    )


def _identity(
    a_req: Request, verdict: Verdict, country_code: str, display: str
) -> list[tuple[str, str]]:
    """RFC 3325: assert the verified number outbound; pass trusted identity inbound."""
    if verdict.direction is Direction.OUTBOUND:
        return [("P-Asserted-Identity", f"{display}<tel:+{country_code}{verdict.caller}>")]
    out: list[tuple[str, str]] = []
    privacy = privacy_values(a_req.headers.get_all("privacy"))
    if HIDING.isdisjoint(privacy):
        out += [("P-Asserted-Identity", v) for v in a_req.headers.get_fields("p-asserted-identity")]
    return out + [("Privacy", value) for value in a_req.headers.get_fields("privacy")]


def cancel_for(invite: Request) -> Request:
    """The CANCEL of ``invite`` (section 9.1): same branch, Request-URI and identifiers."""
    return hop_request(invite, "CANCEL", invite.headers.get("to") or "")
