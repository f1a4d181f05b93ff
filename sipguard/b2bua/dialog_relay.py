"""Carrying a confirmed call between its legs: ACK, BYE and the other in-dialog requests.

RFC 3261 sections 12-15 (dialogs, re-INVITE, BYE), RFC 3262 (PRACK), RFC 3311 (UPDATE).

Invariants:
- the ACK of a 2xx stops that 2xx's retransmissions: the first INVITE's on leg A, or a
  re-INVITE's on the leg it came from (matched by CSeq number, ``Call.reinvite``); an ACK
  owed to the other leg (late offer, re-INVITE) is then sent there with the ACK's body;
- a BYE is answered 200 at once and sent to the other leg; the call then ends;
- other in-dialog requests are relayed through a server transaction on one leg and a client
  transaction on the other; their responses come back the same way;
- an in-dialog request for no known leg gets 481 statelessly (no call owns it), one out of
  CSeq order 500 (12.2.2);
- every path that ends a call goes through ``CallTable.end`` exactly once.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.b2bua.call import Call, Leg, Side
from sipguard.b2bua.call_table import CallTable
from sipguard.b2bua.config import B2BUAConfig
from sipguard.b2bua.effects import Addr, Effects, Transmit
from sipguard.b2bua.headers import allowed_fields, relay_response
from sipguard.b2bua.identity import Identity
from sipguard.b2bua.outgoing import dialog_request
from sipguard.b2bua.reply_route import stateless
from sipguard.b2bua.transactions import Transactions
from sipguard.b2bua.tx_entry import TxEntry
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.wire import serialise

TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


class DialogRelay:
    """Relays requests inside a call's dialogs and hangs calls up."""

    def __init__(
        self, config: B2BUAConfig, ids: Identity, txs: Transactions, table: CallTable
    ) -> None:
        self.config, self.ids, self.txs, self.table = config, ids, txs, table

    def on_ack(self, req: Request, now: float, wall: datetime) -> Effects:
        """An ACK no server transaction matched: the ACK of a 2xx, or a stray."""
        found = self.table.leg(req.call_id, req.to.tag)
        if found is None:
            return []
        call, side = found
        out = self._stop_2xx(call, side, req.cseq.seq, now, wall)
        pending = call.pending_ack.pop(side, None)
        other = call.leg(side.other)
        if pending is not None and other.dialog is not None:
            ctype = req.headers.get("content-type")
            extra = [("Content-Type", ctype)] if req.body and ctype else []
            via = self.ids.via(other.peer.transport)
            ack = dialog_request(other.dialog, "ACK", via, None, pending[0], req.body, extra)
            data = serialise(ack)
            if side is Side.A and pending[1]:
                call.b_ack = data
            out.append(Transmit(data, other.peer))
        return out

    def _stop_2xx(self, call: Call, side: Side, seq: int, now: float, wall: datetime) -> Effects:
        """Tell the INVITE server transaction this ACK (CSeq ``seq``) answers that it came."""
        key = None
        if side is Side.A and seq == call.a.invite_seq:
            key = call.a.invite_tx
        elif side in call.reinvite and call.reinvite[side][0] == seq:
            key = call.reinvite.pop(side)[1]
        entry = self.txs.server.get(key) if key is not None else None
        if entry is None or entry.tx.terminated:
            return []
        return self.txs.run(entry, entry.tx.acked(now), now, wall)

    def in_dialog(self, req: Request, source: Addr, now: float, wall: datetime) -> Effects:
        """A request with a To tag: relay it to the other leg, or answer 481."""
        found = self.table.leg(req.call_id, req.to.tag)
        if found is None:  # no call owns it: answered statelessly, like Kamailio's sl
            return [stateless(req, source, 481)]
        call, side = found
        leg, other = call.leg(side), call.leg(side.other)
        if leg.dialog is None or other.dialog is None:
            return self._answer(req, source, 481, now, wall)
        if not leg.dialog.accept_remote_cseq(req.cseq.seq):
            return self._answer(req, source, 500, now, wall)
        if req.method == "BYE":
            return self._bye(call, side, req, source, now, wall)
        if req.method in TARGET_REFRESH:
            leg.dialog.refresh_target(req)
        entry = self.txs.new_server(req, source)
        out = self.txs.receive(entry, req, now, wall)
        if req.method == "INVITE":
            out += self.txs.respond(entry, 100, None, now, wall)
        branch = self.ids.branch()
        fwd = self._forward(call, side, req, other, branch)
        client = self.txs.new_client(
            fwd,
            other.peer,
            lambda m, n, w: self._relay_back(call, side, entry, fwd, m, n, w),
            lambda n, w: self.txs.respond(entry, 408, None, n, w),
            (branch, req.method),
        )
        return out + self.txs.run(client, client.tx.start(now), now, wall)

    def hang_up(self, call: Call, side: Side, now: float, wall: datetime) -> Effects:
        """Send BYE on one leg; its response is absorbed."""
        leg = call.leg(side)
        if leg.dialog is None:
            return []
        branch = self.ids.branch()
        bye = dialog_request(leg.dialog, "BYE", self.ids.via(leg.peer.transport, branch))
        return self.txs.send(bye, leg.peer, now, wall, (branch, "BYE"))

    def on_max_duration(self, key: int, now: float, wall: datetime) -> Effects:
        """The call reached its maximum duration: BYE both legs."""
        call = self.table.calls.get(key)
        if call is None:
            return []
        out = self.hang_up(call, Side.A, now, wall) + self.hang_up(call, Side.B, now, wall)
        return out + self.table.end(call, 200, "limit", wall)

    def _answer(
        self, req: Request, source: Addr, status: int, now: float, wall: datetime
    ) -> Effects:
        return self.txs.answer(req, source, status, self.ids.token(), now, wall)

    def _forward(self, call: Call, side: Side, req: Request, other: Leg, branch: str) -> Request:
        assert other.dialog is not None
        extra = allowed_fields(req.headers, call.relay, req.body)
        rack = req.headers.get("rack")
        if req.method == "PRACK" and rack is not None and side is Side.A:
            extra.append(("RAck", _map_rack(call, rack)))
        transport = other.peer.transport
        via, contact = self.ids.via(transport, branch), self.ids.contact(transport)
        return dialog_request(other.dialog, req.method, via, contact, body=req.body, extra=extra)

    def _relay_back(
        self,
        call: Call,
        side: Side,
        entry: TxEntry,
        fwd: Request,
        msg: Message,
        now: float,
        wall: datetime,
    ) -> Effects:
        assert isinstance(msg, Response)
        if msg.status == 100 or entry.answered:
            return []
        other = call.leg(side.other)
        success = 200 <= msg.status < 300
        if success and fwd.method in TARGET_REFRESH and other.dialog:
            other.dialog.refresh_target(msg)
        if success and fwd.method == "INVITE":
            call.pending_ack[side] = (fwd.cseq.seq, False)
            call.reinvite[side] = (entry.tx.request.cseq.seq, entry.key)
        contact = self.ids.contact(call.leg(side).peer.transport)
        out = relay_response(msg, entry.tx.request, None, contact, call.relay)
        return self.txs.reply(entry, out, now, wall)

    def _bye(
        self, call: Call, side: Side, req: Request, source: Addr, now: float, wall: datetime
    ) -> Effects:
        out = self._answer(req, source, 200, now, wall)
        out += self.hang_up(call, side.other, now, wall)
        by = "caller" if side is Side.A else "callee"
        return out + self.table.end(call, 200, by, wall)


def _map_rack(call: Call, rack: str) -> str:
    """Translate a PRACK's RAck from leg A's numbering to leg B's (RFC 3262 section 7.2)."""
    parts = rack.split()
    if len(parts) != 3 or not parts[0].isdigit():
        return rack
    b_rseq = call.rseq_map.get(int(parts[0]), int(parts[0]))
    return f"{b_rseq} {call.b.invite_seq} {parts[2]}"
