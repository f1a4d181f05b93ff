"""Settled transactions behave exactly as whole ones would, from a fraction of the memory.

A transaction that only waits out its last timer becomes a record (``b2bua/settled.py``):
every retransmission it answers or absorbs must get the very bytes and effects the plain
machine gives, until the timer's deadline and not after.  One still in Completed, Confirmed
or Accepted with work left drops its parsed values, and a server transaction keeps the
response it sent as bytes and a stand-in (``b2bua/transactions.py``).
"""

from __future__ import annotations

import gc

from b2bua_harness import NET_IN, SDP, TRUNK, Net, in_dialog, invite, reply
from test_calls import setup_call

from sipguard.b2bua.call import Call
from sipguard.b2bua.effects import SWEEP, TxTimer
from sipguard.sip.message import Request, Response
from sipguard.sip.timers import Timer
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


def test_a_call_that_ended_leaves_records_only_and_they_answer_byte_for_byte() -> None:
    """After the BYE exchange no transaction of the call is live: the four left are records.
    A retransmitted BYE gets the identical 200, a retransmitted 2xx from B the identical
    ACK; B's 200 to our BYE and A's ACK are absorbed; 64*T1 later nothing is left."""
    net = Net()
    b_inv, ok, b_ack = setup_call(net)
    bye = in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye1")
    net.send(bye, TRUNK)
    (first,) = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    b_bye = net.one(NET_IN)
    net.send(reply(b_bye, 200), NET_IN)  # type: ignore[arg-type]
    assert net.core.active_calls == 0 and net.core.transactions == 0
    assert net.core.settled == 4 and SWEEP in net.timers
    net.send(bye, TRUNK)
    (again,) = net.take(TRUNK)
    assert serialise(again) == serialise(first)
    net.send(reply(b_inv, 200, body=b_inv.body), NET_IN)  # B did not hear our ACK
    assert serialise(net.one(NET_IN)) == serialise(b_ack)
    sent = len(net.raw)
    net.send(reply(b_bye, 200), NET_IN)  # type: ignore[arg-type]
    net.send(in_dialog("ACK", ok, 1, TRUNK, "z9hG4bK-ack1"), TRUNK)  # type: ignore[arg-type]
    assert len(net.raw) == sent
    net.advance(net.now + 40.0)
    assert net.idle()
    net.send(bye, TRUNK)  # past Timer J the record is gone: a new BYE for no dialog
    assert [m.status for m in net.take(TRUNK)] == [481]  # type: ignore[union-attr]


def test_a_record_matches_until_its_deadline_and_not_after() -> None:
    """The BYE's record answers a retransmission just before Timer J (64*T1) would have
    fired and is gone just after, whether or not a sweep ran in between."""
    net = Net()
    _, ok, _ = setup_call(net)
    bye = in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye1")
    net.send(bye, TRUNK)
    start = net.now
    net.take(TRUNK)
    net.now = start + 31.9  # no timer fired: the lookup alone decides
    net.send(bye, TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [200]  # type: ignore[union-attr]
    net.now = start + 32.1
    net.send(bye, TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [481]  # type: ignore[union-attr]


def test_parsed_values_after_the_drop_equal_a_fresh_parse() -> None:
    """Every accessor of a message an Accepted transaction keeps, read after its memo was
    dropped, answers what a fresh parse of its bytes answers."""
    net = Net()
    setup_call(net)
    settled = _settled_messages(net)
    assert settled and all(not m.headers._cache for m in settled)
    for msg in settled:
        fresh = parse(serialise(msg))
        assert isinstance(fresh, type(msg))
        assert _views(msg) == _views(fresh)


def test_a_sent_response_is_kept_as_its_bytes_and_a_bare_status_line() -> None:
    """A server transaction keeps what it sent as the bytes that left and a stand-in with
    the status line only: no header field of the response stays parsed."""
    net = Net()
    net.send(invite(), TRUNK)
    b_inv = net.one(NET_IN)
    net.take(TRUNK)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)  # type: ignore[arg-type]
    (answer,) = net.take(TRUNK)
    (entry,) = net.core.txs.server.values()
    assert entry.tx.state is TxState.ACCEPTED and entry.sent is not None
    assert entry.tx.last_response is entry.sent
    assert len(entry.sent.headers) == 0 and entry.sent.body == b""
    assert entry.wire == serialise(answer)


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


def test_an_ended_call_is_not_held_by_its_settled_transactions() -> None:
    """Once the BYE exchange is over, nothing the core keeps reaches the call: its leg-B
    INVITE's handlers went with the transaction, and Timer M was cancelled with it."""
    net = Net()
    net.send(invite(call_id="held-or-not"), TRUNK)
    b_inv = net.one(NET_IN)
    net.take(TRUNK)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)  # type: ignore[arg-type]
    (ok,) = net.take(TRUNK)
    net.take(NET_IN)  # our ACK to B
    net.send(in_dialog("ACK", ok, 1, TRUNK, "z9hG4bK-ack1"), TRUNK)  # type: ignore[arg-type]
    assert any(isinstance(k, TxTimer) and k.timer is Timer.M for k in net.timers)
    net.send(in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye1"), TRUNK)  # type: ignore[arg-type]
    net.send(reply(net.one(NET_IN), 200), NET_IN)  # type: ignore[arg-type]
    assert net.core.transactions == 0
    assert not any(isinstance(k, TxTimer) for k in net.timers)
    gc.collect()
    kept = [o for o in gc.get_objects() if isinstance(o, Call) and o.a.call_id == "held-or-not"]
    assert kept == []


def test_a_full_table_replaces_a_record_without_dropping_another() -> None:
    """At its bound, a table drops the record due first only for a new key; a record kept
    again under its own key takes its old place."""
    from sipguard.b2bua.effects import Addr
    from sipguard.b2bua.settled import SettledTable, record_for
    from sipguard.sip.transaction import Kind

    table = SettledTable(limit=2)
    peer = Addr("127.0.0.2", 5060)

    def rec(deadline: float) -> tuple[float, int, int, bytes, str, int, str]:
        return record_for(Kind.NON_INVITE_SERVER, TxState.COMPLETED, deadline, b"200", peer)

    table.add(("a",), rec(10.0))
    table.add(("b",), rec(20.0))
    table.add(("b",), rec(30.0))
    assert len(table) == 2 and table.match(("a",), 0.0) is not None
    table.add(("c",), rec(40.0))
    assert table.match(("a",), 0.0) is None and table.match(("b",), 25.0) is not None
