"""Settled transactions drop their parsed values, and behave exactly as if they had not.

``Transactions.run`` clears the memo of a settled transaction's request and last response
(``b2bua/transactions.py``); every retransmission they answer or absorb afterwards must get
the very bytes and effects the plain behaviour gives.
"""

from __future__ import annotations

from b2bua_harness import NET_IN, TRUNK, Net, in_dialog, reply
from test_calls import setup_call

from sipguard.sip.message import Request, Response
from sipguard.sip.transaction_table import TxState
from sipguard.sip.wire import parse, serialise

_SETTLED = (TxState.COMPLETED, TxState.CONFIRMED, TxState.ACCEPTED)


def _settled_messages(net: Net) -> list[Request | Response]:
    out: list[Request | Response] = []
    for entry in net.core.txs.by_id.values():
        if entry.tx.state in _SETTLED:
            out.append(entry.tx.request)
            if entry.tx.last_response is not None:
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
