"""Carrying a call between its legs: responses, ACK, CANCEL, BYE and in-dialog requests.

RFC 3261 sections 9 (CANCEL), 12-15 (dialogs, INVITE, re-INVITE, BYE), RFC 3262 (PRACK),
RFC 3311 (UPDATE).

Invariants:
- every final response of leg B reaches the caller once; 100 Trying is hop-by-hop and not
  relayed; reliable provisionals get leg A's own RSeq numbers (``Call.rseq_map``);
- leg B's 2xx is ACKed by us (a late-offer 2xx waits for the caller's ACK and its body);
- a CANCEL is answered 200 at once (481 when nothing matches), the caller's INVITE 487, and
  leg B is cancelled; a 2xx from B that races the CANCEL is ACKed and BYEd;
- a BYE is answered 200 at once and sent to the other leg; the call then ends;
- other in-dialog requests are relayed through a server transaction on one leg and a client
  transaction on the other; their responses come back the same way;
- every path that ends a call goes through ``end_call`` exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sipguard.b2bua.call import Call, CallState, Leg, Side
from sipguard.b2bua.effects import Addr, CancelTimer, StartTimer
from sipguard.b2bua.headers import relay_response
from sipguard.b2bua.setup import Setup
from sipguard.b2bua.txs import TxEntry
from sipguard.sip.dialog import Dialog
from sipguard.sip.headers import Headers, canonical
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.transaction import server_key

TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})


class Relay(Setup):
    """The dialog half of the B2BUA."""

    # -- leg B's answer to the INVITE ---------------------------------------------------

    def on_b_invite_response(
        self, call: Call, msg: Message, now: float, wall: datetime
    ) -> list[Any]:
        """A response from the callee to leg B's INVITE (passed up by its transaction)."""
        assert isinstance(msg, Response)
        if call.ended:
            return self._late_2xx(call, msg, now, wall) if 200 <= msg.status < 300 else []
        if msg.status == 100:
            return []
        if msg.status < 200:
            return self._b_provisional(call, msg, now, wall) + self._ringing(call, now)
        ring = CancelTimer(("call", call.key, "ring"))
        if msg.status < 300:
            return [ring, *self._b_answer(call, msg, now, wall)]
        out = self._to_a(call, msg, None, now, wall)
        return out + self.end_call(call, msg.status, "callee", wall)

    def on_b_invite_timeout(self, call: Call, now: float, wall: datetime) -> list[Any]:
        """Leg B never answered (Timer B) or could not be reached: 408 to the caller."""
        entry = self.txs.server.get(call.a.invite_tx)
        out = self.respond(entry, 408, call.a.tag, now, wall)
        return out + self.end_call(call, 408, "timeout", wall)

    def _b_provisional(self, call: Call, resp: Response, now: float, wall: datetime) -> list[Any]:
        if resp.to.tag:
            if call.b.dialog is None:
                call.b.dialog = Dialog.as_uac(call.b.invite, resp)
            if call.a.dialog is None:
                call.a.dialog = Dialog.as_uas(call.a.invite, call.a.tag, early=True)
            call.state = CallState.EARLY
        rseq = None
        b_rseq = resp.headers.get("rseq")
        if b_rseq is not None and b_rseq.strip().isdigit():
            rseq = self._map_rseq(call, int(b_rseq))
        return self._to_a(call, resp, rseq, now, wall)

    def _map_rseq(self, call: Call, b_rseq: int) -> int:
        """Leg A's RSeq for leg B's ``b_rseq`` (a retransmission keeps its number)."""
        for a_rseq, mapped in call.rseq_map.items():
            if mapped == b_rseq:
                return a_rseq
        call.rseq_out += 1
        call.rseq_map[call.rseq_out] = b_rseq
        return call.rseq_out

    def _b_answer(self, call: Call, resp: Response, now: float, wall: datetime) -> list[Any]:
        if call.state is CallState.CONFIRMED:  # a retransmitted 2xx: ACK it again
            if call.b_ack is None:
                return []
            return self.send_stateless(call.b_ack, call.b.peer)
        call.b.dialog = Dialog.as_uac(call.b.invite, resp)
        if call.a.dialog is None:
            call.a.dialog = Dialog.as_uas(call.a.invite, call.a.tag)
        call.a.dialog.confirm()
        call.state = CallState.CONFIRMED
        call.answered_at = wall
        out: list[Any] = []
        if call.b.invite.body:
            call.b_ack = call.b.dialog.ack(call.b.invite.cseq.seq, self.via(call.b.peer.transport))
            out += self.send_stateless(call.b_ack, call.b.peer)
        else:
            call.pending_ack[Side.A] = (call.b.invite.cseq.seq, True)
        out += self._to_a(call, resp, None, now, wall)
        if self.config.max_duration is not None:
            out.append(StartTimer(("call", call.key, "max"), now + self.config.max_duration))
        return out

    def _late_2xx(self, call: Call, resp: Response, now: float, wall: datetime) -> list[Any]:
        """A 2xx after the call ended (CANCEL race): ACK it, then hang up leg B."""
        dialog = Dialog.as_uac(call.b.invite, resp)
        transport = call.b.peer.transport
        ack = dialog.ack(call.b.invite.cseq.seq, self.via(transport))
        bye = dialog.request("BYE", self.via(transport))
        entry = self.txs.new_client(bye, call.b.peer)
        out = self.send_stateless(ack, call.b.peer)
        return out + self.txs.run(entry, entry.tx.start(now), now, wall)

    def _to_a(
        self, call: Call, resp: Response, rseq: int | None, now: float, wall: datetime
    ) -> list[Any]:
        entry = self.txs.server.get(call.a.invite_tx)
        if entry is None or entry.tx.terminated:
            return []
        contact = self.contact(call.a.peer.transport)
        out = relay_response(resp, call.a.invite, call.a.tag, contact, self._allow, rseq)
        return self.txs.run(entry, entry.tx.respond(out, now), now, wall)

    @property
    def _allow(self) -> frozenset[str]:
        return self.config.allow_headers

    # -- ACK, CANCEL ---------------------------------------------------------------------

    def on_ack(self, req: Request, now: float, wall: datetime) -> list[Any]:
        """An ACK no server transaction matched: the ACK of a 2xx, or a stray."""
        found = self.legs.get((req.call_id, req.to.tag or ""))
        if found is None:
            return []
        call, side = found
        out: list[Any] = []
        if side is Side.A and req.cseq.seq == call.a.invite.cseq.seq:
            entry = self.txs.server.get(call.a.invite_tx)
            if entry is not None and not entry.tx.terminated:
                out += self.txs.run(entry, entry.tx.acked(now), now, wall)
        pending = call.pending_ack.pop(side, None)
        other = call.leg(side.other)
        if pending is not None and other.dialog is not None:
            ack = other.dialog.ack(pending[0], self.via(other.peer.transport), req.body)
            if ack.body and req.headers.get("content-type"):
                ack.headers.add("Content-Type", req.headers.get("content-type") or "")
            if side is Side.A and pending[1]:
                call.b_ack = ack
            out += self.send_stateless(ack, other.peer)
        return out

    def on_cancel(self, req: Request, source: Addr, now: float, wall: datetime) -> list[Any]:
        """CANCEL (section 9.2): 200 or 481 at once; 487 to the INVITE; cancel leg B."""
        invite_key = (*server_key(req)[:-1], "INVITE")
        call = self.invites.get(invite_key)
        if call is None or call.state not in (CallState.CALLING, CallState.EARLY):
            status = 200 if invite_key in self.txs.server else 481
            return self.answer(req, source, status, now, wall)
        out = self.answer(req, source, 200, now, wall)
        out += self.respond(self.txs.server.get(invite_key), 487, call.a.tag, now, wall)
        if call.key not in self.held:  # leg B's INVITE is out: cancel it too
            out += self._cancel_b(call, now, wall)
        return out + self.end_call(call, 487, "caller", wall)

    def _cancel_b(self, call: Call, now: float, wall: datetime) -> list[Any]:
        """Send the CANCEL of leg B's INVITE in a client transaction of its own."""
        entry = self.txs.new_client(_cancel_for(call.b.invite), call.b.peer)
        return self.txs.run(entry, entry.tx.start(now), now, wall)

    # -- requests inside a dialog --------------------------------------------------------

    def in_dialog(self, req: Request, source: Addr, now: float, wall: datetime) -> list[Any]:
        """A request with a To tag: relay it to the other leg, or answer 481."""
        found = self.legs.get((req.call_id, req.to.tag or ""))
        if found is None:
            return self.answer(req, source, 481, now, wall)
        call, side = found
        leg, other = call.leg(side), call.leg(side.other)
        if leg.dialog is None or other.dialog is None:
            return self.answer(req, source, 481, now, wall)
        if not leg.dialog.accept_remote_cseq(req.cseq.seq):
            return self.answer(req, source, 500, now, wall)
        if req.method == "BYE":
            return self._bye(call, side, req, source, now, wall)
        if req.method in TARGET_REFRESH:
            leg.dialog.refresh_target(req)
        entry = self.txs.new_server(req, source)
        out = self.txs.run(entry, entry.tx.receive_request(req, now), now, wall)
        if req.method == "INVITE":
            out += self.respond(entry, 100, None, now, wall)
        fwd = self._forward(call, side, req, other)
        client = self.txs.new_client(
            fwd,
            other.peer,
            lambda m, n, w: self._relay_back(call, side, entry, fwd, m, n, w),
            lambda n, w: self.respond(entry, 408, None, n, w),
        )
        return out + self.txs.run(client, client.tx.start(now), now, wall)

    def _forward(self, call: Call, side: Side, req: Request, other: Leg) -> Request:
        assert other.dialog is not None
        extra: list[tuple[str, str]] = []
        for name, value in req.headers.items():
            if canonical(name) in self._allow:
                extra.append((name, value))
        if req.body and req.headers.get("content-type"):
            extra.append(("Content-Type", req.headers.get("content-type") or ""))
        rack = req.headers.get("rack")
        if req.method == "PRACK" and rack is not None and side is Side.A:
            extra.append(("RAck", _map_rack(call, rack)))
        transport = other.peer.transport
        return other.dialog.request(
            req.method, self.via(transport), self.contact(transport), body=req.body, extra=extra
        )

    def _relay_back(
        self,
        call: Call,
        side: Side,
        entry: TxEntry,
        fwd: Request,
        msg: Message,
        now: float,
        wall: datetime,
    ) -> list[Any]:
        assert isinstance(msg, Response)
        if msg.status == 100 or entry.tx.terminated:
            return []
        other = call.leg(side.other)
        if 200 <= msg.status < 300 and fwd.method in TARGET_REFRESH and other.dialog:
            other.dialog.refresh_target(msg)
        if 200 <= msg.status < 300 and fwd.method == "INVITE":
            call.pending_ack[side] = (fwd.cseq.seq, False)
        contact = self.contact(call.leg(side).peer.transport)
        out = relay_response(msg, entry.tx.request, None, contact, self._allow)
        return self.txs.run(entry, entry.tx.respond(out, now), now, wall)

    def _bye(
        self, call: Call, side: Side, req: Request, source: Addr, now: float, wall: datetime
    ) -> list[Any]:
        out = self.answer(req, source, 200, now, wall)
        out += self.hang_up(call, side.other, now, wall)
        by = "caller" if side is Side.A else "callee"
        return out + self.end_call(call, 200, by, wall)

    def hang_up(self, call: Call, side: Side, now: float, wall: datetime) -> list[Any]:
        """Send BYE on one leg; its response is absorbed."""
        leg = call.leg(side)
        if leg.dialog is None:
            return []
        bye = leg.dialog.request("BYE", self.via(leg.peer.transport))
        entry = self.txs.new_client(bye, leg.peer)
        return self.txs.run(entry, entry.tx.start(now), now, wall)

    def _ringing(self, call: Call, now: float) -> list[Any]:
        """(Re)start the ring timer: each provisional from the callee buys it more time."""
        if self.config.ring_timeout is None:
            return []
        return [StartTimer(("call", call.key, "ring"), now + self.config.ring_timeout)]

    def on_ring_timeout(self, key: int, now: float, wall: datetime) -> list[Any]:
        """The callee rang too long (Timer C): CANCEL leg B, answer the caller 408."""
        call = self.calls.get(key)
        if call is None or call.state not in (CallState.CALLING, CallState.EARLY):
            return []
        out = self._cancel_b(call, now, wall)
        out += self.respond(self.txs.server.get(call.a.invite_tx), 408, call.a.tag, now, wall)
        return out + self.end_call(call, 408, "timeout", wall)

    def on_max_duration(self, key: int, now: float, wall: datetime) -> list[Any]:
        """The call reached its maximum duration: BYE both legs."""
        call = self.calls.get(key)
        if call is None:
            return []
        out = self.hang_up(call, Side.A, now, wall) + self.hang_up(call, Side.B, now, wall)
        return out + self.end_call(call, 200, "limit", wall)


def _map_rack(call: Call, rack: str) -> str:
    """Translate a PRACK's RAck from leg A's numbering to leg B's (RFC 3262 section 7.2)."""
    parts = rack.split()
    if len(parts) != 3 or not parts[0].isdigit():
        return rack
    b_rseq = call.rseq_map.get(int(parts[0]), int(parts[0]))
    return f"{b_rseq} {call.b.invite.cseq.seq} {parts[2]}"


def _cancel_for(invite: Request) -> Request:
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
