"""State that a lost or missing message must not strand: every call and transaction ends."""

from __future__ import annotations

import sys

from b2bua_harness import NET_IN, TRUNK, Net, invite, reply

from sipguard.sip.message import Request, Response


def _cancelled_while_ringing(net: Net) -> tuple[Request, Request]:
    """A call the caller CANCELs while it rings; returns leg B's INVITE and CANCEL."""
    net.send(invite(), TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    net.send(reply(b_inv, 180), NET_IN)
    net.take(TRUNK)
    cancel = invite().replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL")
    net.send(cancel, TRUNK)
    b_cancel = net.one(NET_IN)
    assert isinstance(b_cancel, Request) and b_cancel.method == "CANCEL"
    return b_inv, b_cancel


def test_a_cancelled_invite_whose_487_never_comes_is_given_up() -> None:
    """RFC 3261 9.1: the callee answers the CANCEL but its 487 is lost; 64*T1 later the
    INVITE's client transaction is destroyed instead of waiting for ever."""
    net = Net()
    _b_inv, b_cancel = _cancelled_while_ringing(net)
    net.send(reply(b_cancel, 200), NET_IN)
    net.advance(40.0)
    assert net.idle()


def test_a_cancelled_invite_whose_cancel_is_never_answered_is_given_up() -> None:
    """The CANCEL itself times out (Timer F); the INVITE goes with it."""
    net = Net()
    _cancelled_while_ringing(net)
    net.advance(40.0)
    assert net.idle()


def test_a_487_after_the_cancel_still_ends_the_invite_the_plain_way() -> None:
    """The give-up timer must not disturb the normal end: the 487 is ACKed, Timer D runs."""
    net = Net()
    b_inv, b_cancel = _cancelled_while_ringing(net)
    net.send(reply(b_cancel, 200), NET_IN)
    net.advance(10.0)
    net.send(reply(b_inv, 487), NET_IN)
    acks = net.take(NET_IN)
    assert [m.method for m in acks if isinstance(m, Request)] == ["ACK"]
    net.advance(35.0)  # the give-up comes due while the INVITE waits in Completed: ignored
    net.send(reply(b_inv, 487), NET_IN)  # a retransmitted 487 is still ACKed (Timer D)
    assert [m.method for m in net.take(NET_IN) if isinstance(m, Request)] == ["ACK"]
    net.advance(100.0)
    assert net.idle()


def test_a_rejected_invite_keeps_only_its_naming_fields_and_answers_the_same() -> None:
    """After its final response a refused INVITE's transaction is a record of what it sent
    (``b2bua/completed.py``), nothing of a 20 KB request; a retransmitted INVITE still gets
    the very same answer, and the ACK still ends it."""
    net = Net()
    big = invite(caller="4001112222", extra="X-Big: " + "A" * 20_000)
    net.send(big, TRUNK)
    first = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    assert [m.status for m in first] == [100, 403]
    assert not net.core.txs.server and net.core.transactions == 0
    (record,) = net.core.txs.settled.completed._records.values()
    assert record[3] == net.raw[-1] and b"AAAA" not in record[3]
    assert sum(len(v) for v in record if isinstance(v, bytes | str)) < 1_000
    sent = len(net.raw)
    net.send(big, TRUNK)  # a retransmission: answered from the transaction, byte for byte
    assert net.raw[sent:] == [net.raw[sent - 1]]
    net.take(TRUNK)
    ack = big.replace(b"INVITE sip:", b"ACK sip:", 1).replace(b"1 INVITE", b"1 ACK")
    net.send(ack, TRUNK)
    net.advance(60.0)
    assert net.take(TRUNK) == [] and net.idle()


def test_a_sweep_gives_back_the_space_of_the_tables_a_burst_filled() -> None:
    """1,500 refused INVITEs fill the transaction tables; once their timers have run out
    the tables are empty but keep their largest size, until the sweep rebuilds them (the
    same dict objects, which the core holds)."""
    net = Net()
    for i in range(1_500):
        net.send(invite(caller="4001112222", call_id=f"burst-{i}", branch=f"z9hG4bK-b{i}"), TRUNK)
    assert net.core.settled + net.core.transactions >= 1_500
    net.advance(net.now + 100.0)
    assert net.idle()
    tables = net.core.txs.tables() + net.core.table.tables()
    before = sum(sys.getsizeof(t) for t in tables)
    net.core.sweep()
    after = sum(sys.getsizeof(t) for t in tables)
    assert before > 50_000 and after * 10 < before
    again = net.core.txs.tables() + net.core.table.tables()
    assert all(t is u for t, u in zip(tables, again, strict=True))
    net.send(invite(caller="4001112222", call_id="after", branch="z9hG4bK-after"), TRUNK)
    assert [m.status for m in net.take(TRUNK) if isinstance(m, Response)][-1] == 403
