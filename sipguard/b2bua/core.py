"""The sans-IO B2BUA: bytes and timers in, effects out (RFC 3261 sections 8.2, 17, 18.2).

``B2BUA`` routes each input to one collaborator; they share one ``CallTable`` and one
``Transactions`` table: ``CallSetup`` (initial INVITEs), ``InviteRelay`` (the callee's answer,
CANCEL, Timer C) and ``DialogRelay`` (ACK, BYE, re-INVITE and other in-dialog requests).

Invariants:
- the one entry point for peer bytes is ``on_message``; parse and validation failures are
  answered per ``classify`` (requests get the hinted status, responses and ACKs are
  dropped) and never raise; a refused INVITE from a listed peer also yields ``Malformed``;
- a request's top Via is stamped with ``received``/``rport`` first (RFC 3261 18.2.1,
  RFC 3581) and its responses go where section 18.2.2 says (``reply_route``);
- a request from an address in no peer list goes to ``Strangers`` (at most one stateless,
  rate-limited answer, no transaction, no 100 Trying) and nowhere else;
- past ``config.max_transactions`` live transactions (settled ones are records of their
  own, bounded by ``config.max_settled``) a request that would start one is
  answered 503 with Retry-After statelessly (retransmissions still reach their own);
- a request first goes to the server transaction it matches (absorbing retransmissions, and
  an ACK that reaches an INVITE still ringing); only unmatched requests reach the TU: ACK of
  a 2xx, CANCEL, in-dialog requests (To tag) and initial INVITEs;
- an out-of-dialog request that no call can own (OPTIONS keep-alives, REGISTER, a BYE
  without a To tag) is answered statelessly (200, 405 or 501), before the transaction
  bound, so keep-alives hold through a flood; so is a 481 for a dialog we do not know;
- a response goes to the client transaction it matches; a 2xx that outlived its
  transaction is ACKed again from the call; anything else is dropped;
- ``reload`` swaps the ruleset for new calls only: a call keeps the target it got;
- time is always an argument; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from sipguard.b2bua import outgoing
from sipguard.b2bua.call_setup import CallSetup
from sipguard.b2bua.call_table import CallTable
from sipguard.b2bua.config import B2BUAConfig
from sipguard.b2bua.dialog_relay import DialogRelay
from sipguard.b2bua.effects import (
    Addr,
    CallTimer,
    CallTimerKind,
    Effects,
    ResendTimer,
    SweepTimer,
    TimerKey,
    Transmit,
    TxTimer,
)
from sipguard.b2bua.front import origin, own
from sipguard.b2bua.headers import ALLOW_METHODS, KNOWN_METHODS, error_response, make_response
from sipguard.b2bua.identity import Identity
from sipguard.b2bua.invite_relay import InviteRelay
from sipguard.b2bua.malformed import MalformedLog
from sipguard.b2bua.overload import Cause
from sipguard.b2bua.reply_route import reply_to, stamp, stateless
from sipguard.b2bua.strangers import CoreStats, Strangers, listed
from sipguard.b2bua.transactions import Transactions
from sipguard.b2bua.tx_entry import TxEntry
from sipguard.memo import shrink
from sipguard.policy.hostport import DEFAULT_LISTEN, SIP_PORT, parse_hostport
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import MemoryState, State
from sipguard.sip import wire
from sipguard.sip.message import Request, Response
from sipguard.sip.transaction import TxState, client_key, server_key
from sipguard.sip.validate import classify
from sipguard.sip.wire import serialise

_ALLOW = (("Allow", ALLOW_METHODS),)


def _listen_addr(rules: Ruleset) -> Addr:
    """Our address from the rules' first ``listen`` entry (default ``DEFAULT_LISTEN``)."""
    text = rules.listen[0] if rules.listen else DEFAULT_LISTEN
    host, port = parse_hostport(text).with_port(SIP_PORT)
    return Addr(host, port)


class B2BUA:
    """The call core; see the module docstring.  Drive it with ``on_message``/``on_timer``."""

    def __init__(
        self,
        rules: Ruleset,
        state: State | None = None,
        config: B2BUAConfig | None = None,
    ) -> None:
        config = config or B2BUAConfig()
        self.config = config
        self.ids = Identity(config.local or _listen_addr(rules))
        self.txs = Transactions(config.timers, config.max_settled)
        self.table = CallTable()
        self.strangers = Strangers()
        self.malformed = MalformedLog()
        self._busy = (("Retry-After", str(config.retry_after)),)
        self.invite_relay = InviteRelay(config, self.ids, self.txs, self.table)
        self.dialog_relay = DialogRelay(config, self.ids, self.txs, self.table)
        self.setup = CallSetup(
            config,
            self.ids,
            self.txs,
            self.table,
            self.invite_relay,
            rules,
            state if state is not None else MemoryState(),
        )

    @property
    def rules(self) -> Ruleset:
        """The ruleset new calls are screened with."""
        return self.setup.rules

    @property
    def state(self) -> State:
        """The counts, violations and suspensions decisions read and update."""
        return self.setup.state

    @property
    def journal_ok(self) -> bool:
        """False while the journal cannot make records durable (outbound calls get 503)."""
        return self.setup.journal_ok

    @journal_ok.setter
    def journal_ok(self, value: bool) -> None:
        self.setup.journal_ok = value

    @property
    def active_calls(self) -> int:
        """Calls in progress (set up or being set up)."""
        return len(self.table)

    @property
    def transactions(self) -> int:
        """Live transactions on both legs."""
        return len(self.txs)

    @property
    def settled(self) -> int:
        """Settled transactions kept as records until their last timer (``settled``)."""
        return len(self.txs.settled)

    @property
    def stats(self) -> CoreStats:
        """503s by cause and what unlisted sources got (live counters, for the metrics)."""
        return CoreStats(self.setup.rejected, self.strangers.stats)

    def reload(self, rules: Ruleset) -> None:
        """Use ``rules`` for every call from now on; calls in progress are untouched."""
        self.setup.reload(rules)

    def sweep(self) -> None:
        """Forget what the parse and build memos hold that no message used since the last
        call, and give back the space of tables that emptied: the caller's clock decides
        how often (see ``sipguard.memo``)."""
        wire.sweep_memo()
        outgoing.sweep_memo()
        shrink(*self.txs.tables(), *self.table.tables())

    def release(self, call_key: int | None) -> bool:
        """The call's decision is durable: may its held effects go out? (see CallSetup)."""
        return self.setup.release(call_key)

    def unrecorded(self, call_key: int | None, now: float, wall: datetime) -> Effects:
        """The call's decision could not be journaled: refuse the call with 503."""
        return self.setup.unrecorded(call_key, now, wall)

    def on_message(self, data: bytes, source: Addr, now: float, wall: datetime) -> Effects:
        """Handle one datagram or framed stream message from ``source``."""
        outcome = classify(data)
        if outcome.action == "drop":
            return []
        msg = outcome.message
        if outcome.action == "reply" or msg is None:
            if data.lstrip(b"\r\n").startswith(b"ACK ") or outcome.status is None:
                return []
            if not self._may_answer_bad(source, now):
                return []
            raw = error_response(data, outcome.status)
            out: Effects = [Transmit(raw, source)] if raw is not None else []
            found = self.malformed.record(
                data, msg, outcome.status, outcome.detail, source, self.rules, now, wall
            )
            return [*out, *found]
        if isinstance(msg, Response):
            return self._response(msg, now, wall)
        return self._request(msg, source, now, wall)

    def on_timer(self, key: TimerKey, now: float, wall: datetime) -> Effects:
        """A timer the core started came due."""
        match key:
            case TxTimer():
                return self.txs.fire(key, now, wall)
            case CallTimer(call_key=call, kind=kind):
                if call in self.table.calls:  # it fired: no longer armed
                    self.table.calls[call].armed.discard(kind)
                if kind is CallTimerKind.MAX_DURATION:
                    return self.dialog_relay.on_max_duration(call, now, wall)
                if kind is CallTimerKind.RING:
                    return self.invite_relay.on_ring_timeout(call, now, wall)
                assert_never(kind)
            case SweepTimer():
                return self.txs.settled.sweep(now)
            case ResendTimer():
                return self.txs.settled.completed.fire(now)
            case _:
                assert_never(key)

    def _request(self, req: Request, source: Addr, now: float, wall: datetime) -> Effects:
        req = stamp(req, source)
        who = origin(req, source, self.config.fronts)  # ``source`` unless a front stamped it
        if not listed(self.rules, who.host) and not own(who, source, self.config.fronts):
            state = self.setup.state
            return self.strangers.request(req, who, self.rules, state, now, wall, via=source)
        key = server_key(req)
        entry = self.txs.server.get(key)
        if entry is not None:
            return self._matched(entry, req, now, wall)
        settled = self.txs.settled.request(key, now, ack=req.method == "ACK")
        if settled is not None:  # a retransmission to a transaction that settled
            return settled
        if req.method == "ACK":
            return self.dialog_relay.on_ack(req, now, wall)
        if not req.to.tag and req.method not in ("INVITE", "CANCEL"):
            return self._out_of_dialog(req, source)
        if len(self.txs) >= self.config.max_transactions:
            self.setup.rejected.count(Cause.TRANSACTIONS)
            return [stateless(req, source, 503, self._busy)]
        if req.method == "CANCEL":
            return self.invite_relay.on_cancel(req, key, source, now, wall)
        if req.method == "INVITE" and not req.to.tag:
            return self.setup.initial_invite(req, source, now, wall)
        return self.dialog_relay.in_dialog(req, source, now, wall)

    def _matched(self, entry: TxEntry, req: Request, now: float, wall: datetime) -> Effects:
        """A request that matches a live server transaction: a retransmission, or an ACK.
        An ACK of an INVITE not yet answered acknowledges nothing; one of an answered INVITE
        counts only if it names the call's dialog (the dialog's ACK path checks)."""
        if req.method == "ACK":
            state = entry.tx.state
            if state is TxState.PROCEEDING:
                return []
            if state is TxState.ACCEPTED:
                return self.dialog_relay.on_ack(req, now, wall)
        return self.txs.receive(entry, req, now, wall)

    def _out_of_dialog(self, req: Request, source: Addr) -> Effects:
        """OPTIONS (200), or another method we take only in a dialog (405, 501): answered
        statelessly, since no call owns it and a retransmission is simply answered again."""
        status = 200 if req.method == "OPTIONS" else 405 if req.method in KNOWN_METHODS else 501
        resp = make_response(req, status, self.ids.token(), _ALLOW)
        return [Transmit(serialise(resp), reply_to(req, source))]

    def _may_answer_bad(self, source: Addr, now: float) -> bool:
        """May bytes that failed validation from ``source`` be answered (unlisted: limited)?"""
        if listed(self.rules, source.host):
            return True
        return self.strangers.bad_request(self.rules, source, now)

    def _response(self, resp: Response, now: float, wall: datetime) -> Effects:
        key = client_key(resp)
        entry = self.txs.client.get(key)
        if entry is not None:
            return self.txs.run(entry, entry.tx.receive_response(resp, now), now, wall)
        settled = self.txs.settled.client.answer(key, resp.status, now)
        if settled is not None:
            return settled
        if resp.cseq.method != "INVITE" or not 200 <= resp.status < 300:
            return []
        found = self.table.leg(resp.call_id, resp.from_.tag)
        if found is None or found[0].b_ack is None:
            return []
        call = found[0]
        return [Transmit(call.b_ack, call.b.peer)] if call.b_ack else []
