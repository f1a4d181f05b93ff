"""Setting up a call: admitting and screening the initial INVITE, placing leg B.

RFC 3261 sections 16.2 and 17.2.1, RFC 3325.

Invariants:
- the caller hears ``100 Trying`` before anything else happens (section 16.2 / 17.2.1);
- every screened INVITE yields exactly one ``Decided``; a rejection's final response (with
  its RFC 3326 Reason header, and its reason as the phrase under ``sip.refusal_phrase``),
  or an allowed call's INVITE on leg B, travels in ``Decided.after`` so it leaves only
  once the decision is journaled;
- a call carries the header allow-list of the rules it was placed under (``Call.relay``);
- admission (Max-Forwards, trunk capacity, overload) answers before the policy runs and is
  not a policy decision; journal health is not part of it: while the journal fails, every
  INVITE is still decided, a rejection still answered and logged, and an allowed outbound
  call refused 503 only when its own record fails (``unrecorded``), so the first record
  that is written again brings the journal back without a restart;
- an allowed inbound call is in the state's inbound calls from its placing until it ends,
  so forwards of it can be verified (rules 1.1 section 3);
- leg B's INVITE stays in ``CallTable.held`` until ``release`` or ``unrecorded``; a call
  that ended meanwhile never sends it.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.b2bua.call import Call, Leg, Side
from sipguard.b2bua.call_table import CallTable
from sipguard.b2bua.config import B2BUAConfig
from sipguard.b2bua.effects import Addr, Decided, Effect, Effects
from sipguard.b2bua.front import origin
from sipguard.b2bua.headers import make_response, refusal_status_phrase, relay_keys
from sipguard.b2bua.identity import Identity
from sipguard.b2bua.invite_relay import InviteRelay
from sipguard.b2bua.leg_b import LegB, b_invite
from sipguard.b2bua.overload import Cause, Overload, Rejected
from sipguard.b2bua.transactions import Transactions
from sipguard.b2bua.tx_entry import TxEntry
from sipguard.policy.evaluate import evaluate
from sipguard.policy.facts import CallFacts, Direction, Verdict
from sipguard.policy.ruleset import Ruleset, Target
from sipguard.policy.state import State
from sipguard.screening import facts_from_request
from sipguard.sip.message import Request


def allow_list(config: B2BUAConfig, rules: Ruleset) -> frozenset[str]:
    """The header allow-list of new calls: the configured one, else the rules'."""
    return config.allow_headers if config.allow_headers is not None else relay_keys(rules)


def trunk_rates(config: B2BUAConfig, rules: Ruleset) -> dict[str, float]:
    """Per-trunk call-rate limits: the rules' ``max_cps`` over the configured defaults."""
    return {**config.trunk_cps, **rules.trunk_cps}


class CallSetup:
    """Turns an initial INVITE into a decision and, when allowed, a call with leg B held."""

    def __init__(
        self,
        config: B2BUAConfig,
        ids: Identity,
        txs: Transactions,
        table: CallTable,
        relay: InviteRelay,
        rules: Ruleset,
        state: State,
    ) -> None:
        self.config, self.ids, self.txs, self.table, self.relay = config, ids, txs, table, relay
        self.rules = rules
        self.allow = allow_list(config, rules)
        self.state = state
        self.journal_ok = True
        self.rejected = Rejected()
        table.on_end = self._ended
        rates = trunk_rates(config, rules)
        self.overload = Overload(
            config.max_concurrent, rates, config.default_cps, config.retry_after
        )

    def reload(self, rules: Ruleset) -> None:
        """Use ``rules`` for every call from now on; calls in progress are untouched."""
        self.rules = rules
        self.allow = allow_list(self.config, rules)
        self.overload.set_rates(trunk_rates(self.config, rules))

    def initial_invite(self, req: Request, source: Addr, now: float, wall: datetime) -> Effects:
        """Screen a dialog-creating INVITE and, if allowed, place the call on leg B."""
        entry = self.txs.new_server(req, source)
        out = self.txs.receive(entry, req, now, wall)
        a_tag = self.ids.token()
        mf = req.max_forwards
        if mf is not None and mf <= 0:
            return out + self.txs.respond(entry, 483, a_tag, now, wall)
        out += self.txs.respond(entry, 100, None, now, wall)
        refusal = self._admission(source, now)
        if refusal:
            resp = make_response(req, 503, a_tag, refusal)
            return out + self.txs.reply(entry, resp, now, wall)
        who = origin(req, source, self.config.fronts)
        facts = facts_from_request(req, who.host, who.port, who.transport)
        verdict = evaluate(facts, self.rules, self.state, wall)
        if not verdict.allowed:
            reason = (("Reason", verdict.reason_header or ""),)
            phrase = refusal_status_phrase(self.rules, verdict.status, verdict.reason.value)
            resp = make_response(req, verdict.status, a_tag, reason, reason=phrase)
            after = self.txs.reply(entry, resp, now, wall)
            return [*out, Decided(facts, verdict, wall, (req.call_id,), tuple(after))]
        inbound = verdict.direction is Direction.INBOUND
        if inbound and verdict.trunk is not None and self._trunk_full(verdict.trunk):
            self.rejected.count(Cause.TRUNK_FULL)
            busy = (("Retry-After", str(self.config.retry_after)),)  # callee's trunk known now
            return out + self.txs.reply(entry, make_response(req, 503, a_tag, busy), now, wall)
        target = self._target(verdict)
        if target is None:
            return out + self.txs.respond(entry, 500, a_tag, now, wall)
        return out + self._place(req, entry, a_tag, facts, verdict, target, now, wall)

    def _ended(self, call: Call) -> Effects:
        """Forget an inbound call that ended (rules 1.1 section 3); leg B's INVITE
        transaction, if it took a 2xx, keeps only the call's ACK for its retransmissions."""
        verdict = call.verdict
        if verdict.direction is Direction.INBOUND and verdict.caller and verdict.number:
            self.state.inbound_ended(call.a.call_id)
        return self.txs.settle_accepted(call.b.invite_tx, call.b_ack)

    def release(self, call_key: int | None) -> bool:
        """The call's decision is durable: may leg B's held INVITE go out now?

        False when the call ended meanwhile (the caller cancelled it): the held INVITE is
        then dropped unsent, with its transaction, and the shell must not send it.
        """
        if call_key is None:
            return True
        b_entry = self.table.held.pop(call_key, None)
        call = self.table.calls.get(call_key)
        if call is not None and not call.ended:
            return True
        if b_entry is not None:
            self.txs.discard(b_entry)
        return False

    def unrecorded(self, call_key: int | None, now: float, wall: datetime) -> Effects:
        """The decision on an allowed call could not be journaled: refuse the call with 503.

        Leg B's INVITE was held back with the decision, so nothing has reached the callee;
        its client transaction is dropped unsent and the caller hears 503 with Retry-After.
        """
        if call_key is None:
            return []
        b_entry = self.table.held.pop(call_key, None)
        if b_entry is not None:
            self.txs.discard(b_entry)
        call = self.table.calls.get(call_key)
        if call is None:
            return []
        out: Effects = []
        a_entry = self.txs.server.get(call.a.invite_tx)
        if a_entry is not None:
            self.rejected.count(Cause.JOURNAL)
            busy = (("Retry-After", str(self.config.retry_after)),)
            resp = make_response(a_entry.tx.request, 503, call.a.tag, busy)
            out = self.txs.reply(a_entry, resp, now, wall)
        return out + self.table.end(call, 503, "sipguard", wall)

    def _place(
        self,
        req: Request,
        entry: TxEntry,
        a_tag: str,
        facts: CallFacts,
        verdict: Verdict,
        target: Target,
        now: float,
        wall: datetime,
    ) -> Effects:
        """Register the call and start leg B's INVITE, held back until the decision is kept."""
        peer = Addr(target.host, target.port, target.transport)
        leg_b = self._leg_b(req, verdict, target)
        call = Call(
            key=self.table.next_key(),
            a=Leg(Side.A, entry.peer, req.call_id, a_tag, req, entry.key, req.cseq.seq),
            b=Leg(Side.B, peer, leg_b.call_id, leg_b.tag, leg_b.invite, leg_b.key, leg_b.seq),
            facts=facts,
            verdict=verdict,
            relay=self.allow,
        )
        self._register(call, wall)
        entry.on_timeout = lambda n, w: self.relay.on_a_unacked(call, n, w)
        place = self._start_b(call, now, wall)
        legs = (req.call_id, leg_b.call_id)
        return [Decided(facts, verdict, wall, legs, place, call.key)]

    def _leg_b(self, req: Request, verdict: Verdict, target: Target) -> LegB:
        """Leg B's INVITE; an outbound call's From shows its filed number's display name."""
        filed = None
        if verdict.number and not verdict.forwarded:  # a forward is the user's own call
            filed = self.rules.numbers.get(verdict.number)
        display = filed.display_name if filed is not None else None
        country = self.rules.country_code
        return b_invite(req, verdict, target, self.ids, self.allow, country, display)

    def _register(self, call: Call, wall: datetime) -> None:
        """Put the call in the table; an allowed inbound call is noted as up."""
        self.table.register(call)
        verdict = call.verdict
        if verdict.direction is Direction.INBOUND and verdict.caller and verdict.number:
            # rules 1.1 section 3: a forward of this call is verified while it is up
            self.state.inbound_started(call.a.call_id, verdict.caller, verdict.number, wall)

    def _start_b(self, call: Call, now: float, wall: datetime) -> tuple[Effect, ...]:
        """Start leg B's INVITE transaction; its effects are held until the decision is kept."""
        relay = self.relay
        b_entry = self.txs.new_client(
            call.b.invite,
            call.b.peer,
            lambda msg, n, w: relay.on_b_response(call, msg, n, w),
            lambda n, w: relay.on_b_timeout(call, n, w),
            call.b.invite_tx,
        )
        place = self.txs.run(b_entry, b_entry.tx.start(now), now, wall)
        self.table.held[call.key] = b_entry
        return tuple(place)

    def _admission(self, source: Addr, now: float) -> tuple[tuple[str, str], ...]:
        """Headers of a 503 when the call may not start now, else ()."""
        direction, trunk = self.rules.classify_source(source.host)
        if direction is Direction.OUTBOUND and trunk is not None and self._trunk_full(trunk):
            cause: Cause | None = Cause.TRUNK_FULL
        else:
            cause = self.overload.refusal(trunk, len(self.table), now)
        if cause is None:
            return ()
        self.rejected.count(cause)
        return (("Retry-After", str(self.config.retry_after)),)

    def _trunk_full(self, trunk: str) -> bool:
        """The trunk already has ``max_concurrent_calls`` calls up or being set up."""
        cap = self.rules.trunk_max_calls.get(trunk)
        return cap is not None and self.table.per_trunk[trunk] >= cap

    def _target(self, verdict: Verdict) -> Target | None:
        if verdict.direction is None:
            return None
        return self.rules.deliver_to(verdict.direction, verdict.trunk)
