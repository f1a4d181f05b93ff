"""Setting up a call: screening the initial INVITE and building leg B (RFC 3261 16.6, 3325).

Invariants:
- the caller hears ``100 Trying`` before anything else happens (section 16.2 / 17.2.1);
- every screened INVITE yields exactly one ``Decided``; a rejection's final response (with
  its RFC 3326 Reason header), or an allowed call's INVITE on leg B, travels in
  ``Decided.after`` so it leaves only once the decision is journaled;
- admission (Max-Forwards, journal health for outbound calls, overload) answers before the
  policy runs and is not a policy decision;
- leg B shares nothing with leg A but the body, its Content-Type, the allow-listed headers
  and the user parts of the Request-URI, From and To.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sipguard.b2bua.base import Base
from sipguard.b2bua.call import Call, Leg, Side
from sipguard.b2bua.effects import Addr, Decided
from sipguard.b2bua.headers import copy_allowed, display_of, host_uri, make_response, user_part
from sipguard.b2bua.overload import Overload
from sipguard.policy.evaluate import evaluate
from sipguard.policy.facts import Direction, Verdict
from sipguard.policy.ruleset import Ruleset, Target
from sipguard.policy.state import State
from sipguard.screening import facts_from_request, privacy_values
from sipguard.sip.headers import Headers
from sipguard.sip.message import Message, Request
from sipguard.sip.transaction import client_key

# Privacy values that ask for the caller's identity to be withheld (RFC 3323, RFC 3325).
_HIDING = frozenset({"id", "user", "header"})


class Setup(Base):
    """The initial-INVITE half of the B2BUA."""

    rules: Ruleset
    state: State
    journal_ok: bool
    overload: Overload

    def initial_invite(self, req: Request, source: Addr, now: float, wall: datetime) -> list[Any]:
        """Screen a dialog-creating INVITE and, if allowed, place the call on leg B."""
        entry = self.txs.new_server(req, source)
        out = self.txs.run(entry, entry.tx.receive_request(req, now), now, wall)
        a_tag = self.token()
        mf = req.max_forwards
        if mf is not None and mf <= 0:
            return out + self.respond(entry, 483, a_tag, now, wall)
        out += self.respond(entry, 100, None, now, wall)
        refusal = self._admission(source, now)
        if refusal:
            resp = make_response(req, 503, a_tag, refusal)
            return out + self.txs.run(entry, entry.tx.respond(resp, now), now, wall)
        facts = facts_from_request(req, source.host, source.port, source.transport)
        verdict = evaluate(facts, self.rules, self.state, wall)
        if not verdict.allowed:
            reason = (("Reason", verdict.reason_header or ""),)
            resp = make_response(req, verdict.status, a_tag, reason)
            after = self.txs.run(entry, entry.tx.respond(resp, now), now, wall)
            return [*out, Decided(facts, verdict, wall, (req.call_id,), tuple(after))]
        target = self._target(verdict)
        if target is None:
            return out + self.respond(entry, 500, a_tag, now, wall)
        peer = Addr(target.host, target.port, target.transport)
        b_req = self._b_invite(req, verdict, target)
        call = Call(
            key=next(self._counter),
            a=Leg(Side.A, source, req.call_id, a_tag, req, entry.key),
            b=Leg(Side.B, peer, b_req.call_id, b_req.from_.tag or "", b_req, client_key(b_req)),
            facts=facts,
            verdict=verdict,
        )
        self.register(call)
        b_entry = self.txs.new_client(
            b_req,
            peer,
            lambda msg, n, w: self.on_b_invite_response(call, msg, n, w),
            lambda n, w: self.on_b_invite_timeout(call, n, w),
        )
        place = self.txs.run(b_entry, b_entry.tx.start(now), now, wall)
        self.held[call.key] = b_entry
        legs = (req.call_id, b_req.call_id)
        return [*out, Decided(facts, verdict, wall, legs, tuple(place), call.key)]

    def release(self, call_key: int | None) -> bool:
        """The call's decision is durable: may leg B's held INVITE go out now?

        False when the call ended meanwhile (the caller cancelled it): the held INVITE is
        then dropped unsent, with its transaction, and the shell must not send it.
        """
        if call_key is None:
            return True
        b_entry = self.held.pop(call_key, None)
        call = self.calls.get(call_key)
        if call is not None and not call.ended:
            return True
        if b_entry is not None:
            self.txs.discard(b_entry)
        return False

    def unrecorded(self, call_key: int | None, now: float, wall: datetime) -> list[Any]:
        """The decision on an allowed call could not be journaled: refuse the call with 503.

        Leg B's INVITE was held back with the decision, so nothing has reached the callee;
        its client transaction is dropped unsent and the caller hears 503 with Retry-After.
        """
        call = self.calls.get(call_key) if call_key is not None else None
        b_entry = self.held.pop(call_key, None) if call_key is not None else None
        if b_entry is not None:
            self.txs.discard(b_entry)
        if call is None:
            return []
        a_entry = self.txs.server.get(call.a.invite_tx)
        out: list[Any] = []
        if a_entry is not None and not a_entry.tx.terminated:
            busy = (("Retry-After", str(self.config.retry_after)),)
            resp = make_response(a_entry.tx.request, 503, call.a.tag, busy)
            out = self.txs.run(a_entry, a_entry.tx.respond(resp, now), now, wall)
        return out + self.end_call(call, 503, "sipguard", wall)

    def on_b_invite_response(
        self, call: Call, msg: Message, now: float, wall: datetime
    ) -> list[Any]:
        """Implemented by the dialog half."""
        raise NotImplementedError

    def on_b_invite_timeout(self, call: Call, now: float, wall: datetime) -> list[Any]:
        """Implemented by the dialog half."""
        raise NotImplementedError

    def _admission(self, source: Addr, now: float) -> tuple[tuple[str, str], ...]:
        """Headers of a 503 when the call may not start now, else ()."""
        direction, trunk = self.rules.classify_source(source.host)
        busy = (("Retry-After", str(self.config.retry_after)),)
        if direction is Direction.OUTBOUND and not self.journal_ok:
            return busy
        if not self.overload.admit(trunk, len(self.calls), now):
            return busy
        return ()

    def _target(self, verdict: Verdict) -> Target | None:
        if verdict.direction is None:
            return None
        return self.rules.deliver_to(verdict.direction, verdict.trunk)

    def _b_invite(self, a_req: Request, verdict: Verdict, target: Target) -> Request:
        """Leg B's INVITE: fresh identifiers, our Via and Contact, hidden topology."""
        h = Headers()
        h.add("Via", self.via(target.transport))
        mf = a_req.max_forwards
        h.add("Max-Forwards", str((70 if mf is None else mf) - 1))
        a_from = a_req.headers.get("from") or ""
        a_to = a_req.headers.get("to") or ""
        from_user = user_part(str(a_req.from_.uri))
        to_user = user_part(str(a_req.to.uri))
        b_from = f"<{host_uri(from_user, self.local.host)}>;tag={self.token()}"
        h.add("From", display_of(a_from) + b_from)
        h.add("To", f"{display_of(a_to)}<{host_uri(to_user, target.host)}>")
        h.add("Call-ID", f"{self.token()}@{self.local.host}")
        h.add("CSeq", "1 INVITE")
        h.add("Contact", self.contact(target.transport))
        self._identity(a_req, verdict, h)
        copy_allowed(a_req.headers, h, self.config.allow_headers, a_req.body)
        ruri = host_uri(user_part(a_req.uri), target.host, target.port)
        return Request("INVITE", ruri, h, a_req.body)

    def _identity(self, a_req: Request, verdict: Verdict, h: Headers) -> None:
        """RFC 3325: assert the verified number outbound; pass trusted identity inbound."""
        if verdict.direction is Direction.OUTBOUND:
            h.add("P-Asserted-Identity", f"<tel:+{self.rules.country_code}{verdict.caller}>")
            return
        privacy = privacy_values(a_req.headers.get_all("privacy"))
        hide = not _HIDING.isdisjoint(privacy)
        if not hide:
            for pai in a_req.headers.get_fields("p-asserted-identity"):
                h.add("P-Asserted-Identity", pai)
        for value in a_req.headers.get_fields("privacy"):
            h.add("Privacy", value)
