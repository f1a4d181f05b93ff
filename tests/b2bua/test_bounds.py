"""A flood of requests from a listed peer cannot grow the transaction tables without bound.

Live transactions are bounded by ``max_transactions`` (past it, 503 statelessly); settled
ones, which only wait out their last timer as records (``b2bua/settled.py``), and refused
INVITEs waiting for their ACK, which are records too (``b2bua/completed.py``), by
``max_settled`` (past it, the record due first gives way).
"""

from __future__ import annotations

from dataclasses import replace

from b2bua_harness import NET, TRUNK, Net, invite

from sipguard.b2bua import Addr, B2BUAConfig
from sipguard.b2bua.effects import RESEND, SWEEP
from sipguard.b2bua.overload import Cause
from sipguard.sip.message import Response


def options(i: int) -> bytes:
    lines = [
        "OPTIONS sip:127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-opt{i}",
        "Max-Forwards: 70",
        "From: <sip:ka@127.0.0.2>;tag=k1",
        "To: <sip:ka@127.0.0.1>",
        f"Call-ID: ka-{i}",
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def cancel(i: int) -> bytes:
    """A CANCEL for no INVITE: answered 481 through a transaction of its own."""
    text = options(i).decode().replace("OPTIONS", "CANCEL").replace("-opt", "-cxl")
    return text.encode()


def unacked(i: int) -> bytes:
    """An INVITE from an unfiled caller whose 403 is never ACKed: its transaction waits in
    Completed until Timer H, as a record."""
    return invite(caller="4001112222", call_id=f"flood-{i}", branch=f"z9hG4bK-fl{i}")


def unanswered(i: int) -> bytes:
    """An allowed inbound INVITE whose callee never answers: two live transactions (leg
    A's in Proceeding, leg B's in Calling) until leg B's Timer B."""
    return invite("13800138000", "4008001234", NET, f"ring-{i}", f"z9hG4bK-rg{i}")


def bounded_net(limit: int, settled: int = 100_000) -> Net:
    config = B2BUAConfig(local=Addr("127.0.0.1", 5060), max_transactions=limit)
    return Net(replace(config, max_settled=settled))


def test_requests_past_the_bound_get_a_stateless_503_with_retry_after() -> None:
    """A flood of requests that each hold live transactions stops at the bound: later
    requests get 503, no transaction."""
    net = bounded_net(50)
    for i in range(60):
        net.send(unanswered(i), NET)
    assert net.core.transactions == 50 and net.core.active_calls == 25
    got = [m for m in net.take(NET) if isinstance(m, Response)]
    assert [m.status for m in got].count(100) == 25
    busy = [m for m in got if m.status == 503]
    assert len(busy) == 35 and all(m.headers.get("retry-after") == "5" for m in busy)
    assert net.core.stats.rejected.counts[Cause.TRANSACTIONS] == 35
    net.send(invite(), TRUNK)  # a call during the flood: refused, not queued
    assert [m.status for m in net.take(TRUNK)] == [503]  # type: ignore[union-attr]
    assert net.core.transactions == 50 and net.core.active_calls == 25


def test_a_call_goes_through_once_the_flood_has_drained() -> None:
    net = bounded_net(50)
    for i in range(30):
        net.send(unanswered(i), NET)
    net.advance(net.now + 80.0)  # leg B's Timer B, then leg A's 408 waits out Timer H
    net.take(NET)
    assert net.core.transactions == 0 and net.core.active_calls == 0
    net.send(invite(), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    assert net.core.active_calls == 1


def test_refused_invites_waiting_for_an_ack_take_no_live_slot_and_are_bounded() -> None:
    """A flood of refused INVITEs that are never ACKed leaves records, not transactions: a
    call still gets through, past ``max_settled`` the record due first gives way, a recent
    one still answers its retransmission with the very bytes it sent, and Timer H ends them
    all, with their one timer."""
    net = bounded_net(50, settled=40)
    for i in range(100):  # the trunk's max_cps
        net.send(unacked(i), TRUNK)
    got = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    assert [m.status for m in got] == [100, 403] * 100
    assert net.core.transactions == 0 and net.core.settled == 40
    assert net.core.stats.rejected.counts[Cause.TRANSACTIONS] == 0
    last = net.raw[-1]
    net.send(unacked(99), TRUNK)
    assert net.raw[-1] == last and net.core.settled == 40
    net.advance(net.now + 1.1)  # the next second of max_cps; Timer G resends the 403s
    assert net.raw[-1] == last
    net.take(TRUNK)
    net.send(invite(), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    net.advance(net.now + 80.0)  # and that call's 408 (leg B's Timer B) its own Timer H
    assert net.core.settled == 0 and RESEND not in net.timers


def test_retransmissions_still_reach_their_transaction_at_the_bound() -> None:
    """At the bound, a retransmitted CANCEL is answered from its transaction, not 503."""
    net = bounded_net(1)
    net.send(cancel(0), TRUNK)
    net.send(cancel(0), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [481, 481]  # type: ignore[union-attr]
    assert net.core.stats.rejected.counts[Cause.TRANSACTIONS] == 0


def test_keep_alives_are_answered_statelessly_even_at_the_bound() -> None:
    """OPTIONS from a listed peer never takes a transaction, so a full table refuses none."""
    net = bounded_net(2)
    net.send(unanswered(0), NET)
    for i in range(20):
        net.send(options(i), TRUNK)
    got = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    assert [m.status for m in got] == [200] * 20
    assert all(m.to.tag for m in got)  # a 200 carries our To tag (RFC 3261 8.2.6.2)
    assert net.core.transactions == 2
    assert net.core.stats.rejected.counts[Cause.TRANSACTIONS] == 0


def test_settled_transactions_take_no_live_slot_and_are_bounded_on_their_own() -> None:
    """A CANCEL for no INVITE is answered 481 and settles at once: a flood of them takes no
    live slot (a call still gets through), and past ``max_settled`` the record due first
    gives way, so memory stays bounded; a recent one still answers its retransmission from
    its record, with the very bytes it sent."""
    net = bounded_net(50, settled=40)
    for i in range(500):
        net.send(cancel(i), TRUNK)
    got = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    assert [m.status for m in got] == [481] * 500
    assert net.core.transactions == 0 and net.core.settled == 40
    assert net.core.stats.rejected.counts[Cause.TRANSACTIONS] == 0
    last = net.raw[-1]
    net.send(cancel(499), TRUNK)
    assert net.raw[-1] == last and net.core.settled == 40
    net.take(TRUNK)
    net.send(invite(), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    net.advance(net.now + 80.0)  # and that call's 408 (leg B's Timer B) its own Timer H
    assert net.core.settled == 0 and SWEEP not in net.timers


def test_503s_are_counted_by_cause() -> None:
    """max_cps and the concurrent-call cap each count under their own cause."""
    net = Net(B2BUAConfig(local=Addr("127.0.0.1", 5060), max_concurrent=1))
    net.send(invite(call_id="c1", branch="z9hG4bK-1"), TRUNK)
    net.send(invite(call_id="c2", branch="z9hG4bK-2"), TRUNK)
    counts = net.core.stats.rejected.counts
    assert counts[Cause.OVERLOAD] == 1 and counts[Cause.MAX_CPS] == 0
    net = Net()  # the example rules give the trunk max_cps 100
    for i in range(101):
        net.send(invite(call_id=f"c{i}", branch=f"z9hG4bK-{i}"), TRUNK)
    assert net.core.stats.rejected.counts[Cause.MAX_CPS] == 1
    net = Net()
    net.journal_fails = True
    net.send(invite(), TRUNK)
    assert net.core.stats.rejected.counts[Cause.JOURNAL] == 1
