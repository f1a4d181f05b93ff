"""Leg B's requests built from leg A's: the INVITE to the callee and its CANCEL.

RFC 3261 sections 8.1.1 and 9.1, RFC 3325 (asserted identity), RFC 3323 (privacy).

Invariants:
- leg B shares nothing with leg A but the body, its Content-Type, the allow-listed headers
  and the user parts of the Request-URI, From and To: Via, Contact, tags and Call-ID are
  ours (topology hiding);
- outbound calls assert the verified number (``<tel:+CC NSN>``); inbound calls pass the
  caller's P-Asserted-Identity on only when its Privacy does not ask to hide it;
- a CANCEL copies its INVITE's Via (branch included), Route set, From, To, Call-ID and
  CSeq number (section 9.1), so the callee can match it.
"""

from __future__ import annotations

from sipguard.b2bua.headers import copy_allowed, display_of, host_uri, user_part
from sipguard.b2bua.identity import Identity
from sipguard.policy.facts import Direction, Verdict
from sipguard.policy.ruleset import Target
from sipguard.screening import privacy_values
from sipguard.sip.headers import Headers
from sipguard.sip.message import Request

# Privacy values that ask for the caller's identity to be withheld (RFC 3323, RFC 3325).
_HIDING = frozenset({"id", "user", "header"})


def b_invite(
    a_req: Request,
    verdict: Verdict,
    target: Target,
    ids: Identity,
    allow: frozenset[str],
    country_code: str,
) -> Request:
    """Leg B's INVITE: fresh identifiers, our Via and Contact, hidden topology."""
    host = ids.local.host
    h = Headers()
    h.add("Via", ids.via(target.transport))
    mf = a_req.max_forwards
    h.add("Max-Forwards", str((70 if mf is None else mf) - 1))
    a_from = a_req.headers.get("from") or ""
    a_to = a_req.headers.get("to") or ""
    from_user = user_part(str(a_req.from_.uri))
    to_user = user_part(str(a_req.to.uri))
    h.add("From", f"{display_of(a_from)}<{host_uri(from_user, host)}>;tag={ids.token()}")
    h.add("To", f"{display_of(a_to)}<{host_uri(to_user, target.host)}>")
    h.add("Call-ID", f"{ids.token()}@{host}")
    h.add("CSeq", "1 INVITE")
    h.add("Contact", ids.contact(target.transport))
    _identity(a_req, verdict, h, country_code)
    copy_allowed(a_req.headers, h, allow, a_req.body)
    ruri = host_uri(user_part(a_req.uri), target.host, target.port)
    return Request("INVITE", ruri, h, a_req.body)


def _identity(a_req: Request, verdict: Verdict, h: Headers, country_code: str) -> None:
    """RFC 3325: assert the verified number outbound; pass trusted identity inbound."""
    if verdict.direction is Direction.OUTBOUND:
        h.add("P-Asserted-Identity", f"<tel:+{country_code}{verdict.caller}>")
        return
    privacy = privacy_values(a_req.headers.get_all("privacy"))
    if _HIDING.isdisjoint(privacy):
        for pai in a_req.headers.get_fields("p-asserted-identity"):
            h.add("P-Asserted-Identity", pai)
    for value in a_req.headers.get_fields("privacy"):
        h.add("Privacy", value)


def cancel_for(invite: Request) -> Request:
    """The CANCEL of ``invite`` (section 9.1): same branch, Request-URI and identifiers."""
    h = Headers()
    h.add("Via", invite.headers.get_all("via")[0])
    for route in invite.headers.get_fields("route"):
        h.add("Route", route)
    h.add("Max-Forwards", "70")
    h.add("From", invite.headers.get("from") or "")
    h.add("To", invite.headers.get("to") or "")
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return Request("CANCEL", invite.uri, h)
