"""Settled transactions drop their parsed values, and behave exactly as if they had not.

``Transactions.run`` clears the memo of a settled transaction's request, and a server
transaction keeps the responses it sends as bytes and a stand-in (``b2bua/transactions.py``);
every retransmission they answer or absorb afterwards must get the very bytes and effects the
plain behaviour gives.
"""

from __future__ import annotations

from b2bua_harness import NET_IN, SDP, TRUNK, Net, in_dialog, invite, reply
from test_calls import setup_call

from sipguard.sip.message import Request, Response
from sipguard.sip.transaction_table import TxState
from sipguard.sip.wire import parse, serialise

_SETTLED = (TxState.COMPLETED, TxState.CONFIRMED, TxState.ACCEPTED)


def _settled_messages(net: Net) -> list[Request | Response]:
    """The parsed messages settled transactions keep (a sent response is kept as bytes)."""
    out: list[Request | Response] = []
    for entry in net.core.txs.by_id.values():
        if entry.tx.state in _SETTLED:
            out.append(entry.tx.request)
            if entry.tx.last_response is not None and entry.sent is None:
                out.append(entry.tx.last_response)
    return out


def _views(msg: Request | Response) -> tuple[object, ...]:
    return (msg.vias, msg.top_via, msg.to, msg.from_, msg.cseq, msg.call_id, serialise(msg))


def test_a_settled_bye_answers_its_retransmission_with_the_same_bytes() -> None:
    """After the BYE's 200 the transaction holds no parsed values, and a retransmitted BYE
    still gets the identical 200; a retransmitted 2xx from B is ACKed identically too."""
    net = Net()
    b_inv, ok, b_ack = setup_call(net)
    bye = in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye1")
    net.send(bye, TRUNK)
    (first,) = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    b_bye = net.one(NET_IN)
    net.send(reply(b_bye, 200), NET_IN)  # type: ignore[arg-type]
    settled = _settled_messages(net)
    assert settled and all(not m.headers._cache for m in settled)  # the trick is in place
    net.send(bye, TRUNK)
    (again,) = net.take(TRUNK)
    assert serialise(again) == serialise(first)
    net.send(reply(b_inv, 200, body=b_inv.body), NET_IN)  # B did not hear our ACK
    assert serialise(net.one(NET_IN)) == serialise(b_ack)


def test_parsed_values_after_the_drop_equal_a_fresh_parse() -> None:
    """Every accessor of a settled message, read after its memo was dropped, answers what
    a fresh parse of its bytes answers."""
    net = Net()
    _, ok, _ = setup_call(net)
    net.send(in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye1"), TRUNK)
    settled = _settled_messages(net)
    assert settled
    for msg in settled:
        fresh = parse(serialise(msg))
        assert isinstance(fresh, type(msg))
        assert _views(msg) == _views(fresh)


def test_a_sent_response_is_kept_as_its_bytes_and_a_bare_status_line() -> None:
    """A server transaction keeps what it sent as the bytes that left and a stand-in with
    the status line only: no header field of the response stays parsed."""
    net = Net()
    _, ok, _ = setup_call(net)
    net.send(in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye1"), TRUNK)
    (answer,) = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    server = [e for e in net.core.txs.server.values() if e.sent is not None]
    assert server
    for entry in server:
        assert entry.tx.last_response is entry.sent
        assert len(entry.sent.headers) == 0 and entry.sent.body == b""
        assert parse(entry.wire).status == entry.sent.status  # type: ignore[union-attr]
    bye_tx = [e for e in server if e.tx.request.method == "BYE"]
    assert [e.wire for e in bye_tx] == [serialise(answer)]


def test_an_unacked_2xx_is_retransmitted_byte_for_byte_from_a_slim_transaction() -> None:
    """The caller's INVITE transaction, once its 2xx is sent, keeps a slim request and the
    2xx's bytes; Timer G's retransmissions are those very bytes, and leg A keeps only the
    fields that name its INVITE; so does leg B, and its INVITE client transaction."""
    net = Net()
    net.send(invite(extra="X-Pad: " + "p" * 3000), TRUNK)
    net.take(TRUNK)
    b_inv = net.one(NET_IN)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)  # type: ignore[arg-type]
    (ok,) = net.take(TRUNK)
    (call,) = net.core.table.calls.values()
    entry = net.core.txs.server[call.a.invite_tx]
    assert entry.tx.state is TxState.ACCEPTED
    names = {"via", "from", "to", "call-id", "cseq"}
    client = net.core.txs.client[call.b.invite_tx]
    assert client.tx.state is TxState.ACCEPTED
    for req in (entry.tx.request, call.a.invite, client.tx.request, call.b.invite):
        assert {k for _, _, k in req.headers.triples()} == names and req.body == b""
    assert call.b.invite.uri == b_inv.uri  # type: ignore[union-attr]
    net.advance(net.now + 2.0)  # Timer G fires (0.5 s, then 1 s)
    again = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    assert len(again) >= 2 and {serialise(m) for m in again} == {serialise(ok)}
    net.send(in_dialog("ACK", ok, 1, TRUNK, "z9hG4bK-ack1"), TRUNK)  # type: ignore[arg-type]
    assert net.core.active_calls == 1 and net.core.table.calls[call.key].state.name == "CONFIRMED"
