"""The life of a call's first INVITE after set-up: the callee's answer, CANCEL, Timer C.

RFC 3261 sections 9 (CANCEL), 13.2.2 (responses to an INVITE), 16.6 step 11 (Timer C),
RFC 3262 (reliable provisionals).

Invariants:
- every final response of leg B reaches the caller once; 100 Trying is hop-by-hop and not
  relayed; reliable provisionals get leg A's own RSeq numbers (``Call.rseq_map``);
- a 1xx or 2xx from the callee is checked before it forms a dialog (``dialog_problem``): a
  broken 1xx is relayed as plain ringing without an early dialog; a broken 2xx is ACKed and
  BYEd on leg B at once and the caller gets 502;
- leg B's 2xx is ACKed by us (a late-offer 2xx waits for the caller's ACK and its body);
- a CANCEL is answered 200 at once (481 when nothing matches), the caller's INVITE 487, and
  leg B is cancelled; a 2xx from B that races the CANCEL is ACKed and BYEd;
- a 2xx the caller never ACKs ends the call when its transaction gives up (Timer L): BYE on
  both legs, ended by ``timeout``;
- every path that ends a call goes through ``CallTable.end`` exactly once;
- once the caller has the 2xx, each leg keeps only the fields that name its INVITE
  (``slim``, with the Request-URI): the dialogs hold what the rest of the call needs.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.b2bua.call import Call, CallState, Side
from sipguard.b2bua.call_table import CallTable
from sipguard.b2bua.config import B2BUAConfig
from sipguard.b2bua.effects import (
    Addr,
    CallTimerKind,
    Effects,
    Transmit,
)
from sipguard.b2bua.headers import relay_response
from sipguard.b2bua.identity import Identity
from sipguard.b2bua.leg_b import b_dialog, cancel_for
from sipguard.b2bua.outgoing import dialog_ack, dialog_request
from sipguard.b2bua.slimming import slim
from sipguard.b2bua.transactions import Transactions
from sipguard.errors import SipguardError
from sipguard.sip.dialog import Dialog, DialogId
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.transaction import TxKey
from sipguard.sip.wire import serialise

_EARLY = (CallState.CALLING, CallState.EARLY)


def dialog_problem(resp: Response) -> str | None:
    """Why ``resp`` (a 1xx or 2xx to an INVITE) cannot form a dialog, or None when it can."""
    try:
        tag = resp.to.tag
        if "contact" in resp.headers:
            resp.addresses("contact")  # parsed once here; the dialog reuses the result
    except SipguardError as exc:
        return str(exc)
    if resp.status >= 200 and not tag:
        return "2xx without a To tag"
    return None


def _salvage_dialog(invite: Request, resp: Response) -> Dialog:
    """A dialog good enough to ACK and BYE a broken 2xx: its raw To, the INVITE's target."""
    to = resp.headers.get("to") or invite.headers.get("to") or ""
    return Dialog(
        id=DialogId(invite.call_id, invite.from_.tag or "", ""),
        local=invite.headers.get("from") or "",
        remote=to,
        remote_target=invite.uri,
        local_seq=invite.cseq.seq,
    )


class InviteRelay:
    """Carries leg B's answer to the caller and the caller's CANCEL to leg B."""

    def __init__(
        self, config: B2BUAConfig, ids: Identity, txs: Transactions, table: CallTable
    ) -> None:
        self.config, self.ids, self.txs, self.table = config, ids, txs, table

    def on_b_response(self, call: Call, msg: Message, now: float, wall: datetime) -> Effects:
        """A response from the callee to leg B's INVITE (passed up by its transaction)."""
        assert isinstance(msg, Response)
        status = msg.status
        if call.ended:
            if not 200 <= status < 300:
                return []
            if call.b_ack is not None:  # a retransmission of a 2xx we ACKed and BYEd
                return [Transmit(call.b_ack, call.b.peer)]
            return self._late_2xx(call, msg, now, wall)
        if status == 100:
            return []
        if status < 200:
            return self._b_provisional(call, msg, now, wall) + self._ringing(call, now)
        ring = self.table.disarm(call, CallTimerKind.RING)
        if status < 300:
            return ring + self._b_answer(call, msg, now, wall)
        out = self._to_a(call, msg, None, now, wall)
        return out + self.table.end(call, status, "callee", wall)

    def on_b_timeout(self, call: Call, now: float, wall: datetime) -> Effects:
        """Leg B never answered (Timer B) or could not be reached: 408 to the caller."""
        return self._fail_a(call, 408, "timeout", now, wall)

    def on_a_unacked(self, call: Call, now: float, wall: datetime) -> Effects:
        """The caller never ACKed the 2xx (Timer L): BYE both legs (RFC 3261 13.3.1.4)."""
        if call.ended or call.state is not CallState.CONFIRMED:
            return []  # Timer H after a failure, or a transport error while ringing
        out: Effects = []
        for leg in (call.a, call.b):
            if leg.dialog is not None:
                branch = self.ids.branch()
                bye = dialog_request(leg.dialog, "BYE", self.ids.via(leg.peer.transport, branch))
                out += self.txs.send(bye, leg.peer, now, wall, (branch, "BYE"))
        return out + self.table.end(call, 200, "timeout", wall)

    def on_cancel(
        self, req: Request, key: TxKey, source: Addr, now: float, wall: datetime
    ) -> Effects:
        """CANCEL (section 9.2) with server key ``key``: 200 or 481 at once, 487 to the
        INVITE, and leg B cancelled."""
        invite_key = (*key[:-1], "INVITE")
        call = self.table.invites.get(invite_key)
        tag = self.ids.token()
        if call is None or call.state not in _EARLY:
            status = 200 if self.txs.knows_server(invite_key, now) else 481
            return self.txs.answer(req, source, status, tag, now, wall)
        out = self.txs.answer(req, source, 200, tag, now, wall)
        out += self.txs.respond(self.txs.server.get(invite_key), 487, call.a.tag, now, wall)
        if call.key not in self.table.held:  # leg B's INVITE is out: cancel it too
            out += self._cancel_b(call, now, wall)
        return out + self.table.end(call, 487, "caller", wall)

    def on_ring_timeout(self, key: int, now: float, wall: datetime) -> Effects:
        """The callee rang too long (Timer C): CANCEL leg B, answer the caller 408."""
        call = self.table.calls.get(key)
        if call is None or call.state not in _EARLY:
            return []
        return self._cancel_b(call, now, wall) + self._fail_a(call, 408, "timeout", now, wall)

    def _fail_a(self, call: Call, status: int, by: str, now: float, wall: datetime) -> Effects:
        entry = self.txs.server.get(call.a.invite_tx)
        out = self.txs.respond(entry, status, call.a.tag, now, wall)
        return out + self.table.end(call, status, by, wall)

    def _b_provisional(self, call: Call, resp: Response, now: float, wall: datetime) -> Effects:
        if resp.to.tag and dialog_problem(resp) is None:
            if call.b.dialog is None:
                call.b.dialog = b_dialog(call.b, resp)
            if call.a.dialog is None:
                call.a.dialog = Dialog.as_uas(call.a.invite, call.a.tag, early=True)
            call.state = CallState.EARLY
        rseq = None
        b_rseq = resp.headers.get("rseq")
        if b_rseq is not None and b_rseq.strip().isdigit():
            rseq = _map_rseq(call, int(b_rseq))
        return self._to_a(call, resp, rseq, now, wall)

    def _b_answer(self, call: Call, resp: Response, now: float, wall: datetime) -> Effects:
        if call.state is CallState.CONFIRMED:  # a retransmitted 2xx: ACK it again
            return [Transmit(call.b_ack, call.b.peer)] if call.b_ack else []
        if dialog_problem(resp) is not None:
            return self._refuse_2xx(call, _salvage_dialog(call.b.invite, resp), now, wall)
        call.b.dialog = b_dialog(call.b, resp)
        if call.a.dialog is None:
            call.a.dialog = Dialog.as_uas(call.a.invite, call.a.tag)
        call.a.dialog.confirm()
        call.state = CallState.CONFIRMED
        call.answered_at = wall
        out: Effects = []
        if call.b.invite.body:
            via = self.ids.via(call.b.peer.transport)
            call.b_ack = serialise(dialog_ack(call.b.dialog, call.b.invite_seq, via))
            out.append(Transmit(call.b_ack, call.b.peer))
        else:
            call.pending_ack[Side.A] = (call.b.invite_seq, True)
        out += self._to_a(call, resp, None, now, wall)
        self._slim_legs(call)
        if self.config.max_duration is not None:
            at = now + self.config.max_duration
            out.append(self.table.arm(call, CallTimerKind.MAX_DURATION, at))
        return out

    def _slim_legs(self, call: Call) -> None:
        """Both legs' INVITEs, answered, keep their naming fields only (the module header);
        each is cut once and shared with its transaction."""
        server = self.txs.server.get(call.a.invite_tx)
        if server is not None and server.slimmed:
            call.a.invite = server.tx.request
        else:
            call.a.invite = slim(call.a.invite)
        call.b.invite = slim(call.b.invite)
        client = self.txs.client.get(call.b.invite_tx)
        if client is not None:
            client.tx.request, client.slimmed = call.b.invite, True

    def _refuse_2xx(self, call: Call, dialog: Dialog, now: float, wall: datetime) -> Effects:
        """A 2xx that forms no usable dialog: ACK and BYE leg B, 502 to the caller."""
        out = self._ack_and_bye(call, dialog, now, wall)
        return out + self._fail_a(call, 502, "sipguard", now, wall)

    def _late_2xx(self, call: Call, resp: Response, now: float, wall: datetime) -> Effects:
        """A 2xx after the call ended (CANCEL race): ACK it, then hang up leg B."""
        if dialog_problem(resp) is None:
            dialog = b_dialog(call.b, resp)
        else:
            dialog = _salvage_dialog(call.b.invite, resp)
        return self._ack_and_bye(call, dialog, now, wall)

    def _ack_and_bye(self, call: Call, dialog: Dialog, now: float, wall: datetime) -> Effects:
        transport = call.b.peer.transport
        ack = dialog_ack(dialog, call.b.invite_seq, self.ids.via(transport))
        call.b_ack = serialise(ack)
        branch = self.ids.branch()
        bye = dialog_request(dialog, "BYE", self.ids.via(transport, branch))
        out: Effects = [Transmit(call.b_ack, call.b.peer)]
        return out + self.txs.send(bye, call.b.peer, now, wall, (branch, "BYE"))

    def _to_a(
        self, call: Call, resp: Response, rseq: int | None, now: float, wall: datetime
    ) -> Effects:
        entry = self.txs.server.get(call.a.invite_tx)
        if entry is None:
            return []
        contact = self.ids.contact(call.a.peer.transport)
        out = relay_response(resp, call.a.invite, call.a.tag, contact, call.relay, rseq)
        return self.txs.reply(entry, out, now, wall)

    def _cancel_b(self, call: Call, now: float, wall: datetime) -> Effects:
        """Send the CANCEL of leg B's INVITE in a client transaction of its own."""
        key = (call.b.invite_tx[0], "CANCEL")
        out = self.txs.send(cancel_for(call.b.invite), call.b.peer, now, wall, key)
        return out + self.txs.give_up_later(self.txs.client.get(call.b.invite_tx), now)

    def _ringing(self, call: Call, now: float) -> Effects:
        """(Re)start the ring timer: each provisional from the callee buys it more time."""
        if self.config.ring_timeout is None:
            return []
        return [self.table.arm(call, CallTimerKind.RING, now + self.config.ring_timeout)]


def _map_rseq(call: Call, b_rseq: int) -> int:
    """Leg A's RSeq for leg B's ``b_rseq`` (a retransmission keeps its number)."""
    for a_rseq, mapped in call.rseq_map.items():
        if mapped == b_rseq:
            return a_rseq
    call.rseq_out += 1
    call.rseq_map[call.rseq_out] = b_rseq
    return call.rseq_out
