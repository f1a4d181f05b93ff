"""A refused INVITE waiting for its ACK behaves exactly as its whole transaction would.

Once an INVITE server transaction has sent a final response of 300-699 it is a record
(``b2bua/completed.py``): Timer G must resend the very bytes on the schedule of RFC 3261
section 17.2.1 (T1, doubling, capped at T2) until Timer H, a retransmitted INVITE must get
them again, its ACK must stop them and leave a Confirmed record that absorbs until Timer I,
and a CANCEL must still find the INVITE.  Each is checked against the plain transaction
engine run on the same inputs.
"""

from __future__ import annotations

from b2bua_harness import TRUNK, Net, invite

from sipguard.b2bua.effects import RESEND, Addr
from sipguard.b2bua.headers import make_response
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction import Arm, Kind, Send, Transaction
from sipguard.sip.wire import parse

REFUSED = invite(caller="4001112222")  # an unfiled caller: 403


def _send_times(net: Net, until: float, step: float = 0.05) -> list[float]:
    """The times at which something went to the trunk, stepping the clock to ``until``."""
    times, seen = [], len(net.raw)
    t = net.now
    while t < until:
        t = round(t + step, 6)
        net.advance(t)
        net.now = t
        times += [t] * (len(net.raw) - seen)
        seen = len(net.raw)
    return times


def _engine_schedule(h: float) -> list[float]:
    """Timer G's firings of a plain INVITE server transaction in Completed, up to H."""
    tx = Transaction(Kind.INVITE_SERVER, parse(REFUSED), reliable=False)  # type: ignore[arg-type]
    tx.receive_request(tx.request, 0.0)
    out = tx.respond(make_response(tx.request, 403, "t"), 0.0)
    due = {e.timer: e.at for e in out if isinstance(e, Arm)}
    fired: list[float] = []
    while due.get(Timer.G, h) < h:
        at = due[Timer.G]
        effects = tx.fire(Timer.G, at)
        fired += [at] * sum(isinstance(e, Send) for e in effects)
        due.update({e.timer: e.at for e in effects if isinstance(e, Arm)})
    return fired


def test_timer_g_resends_the_same_bytes_on_the_engines_schedule_until_timer_h() -> None:
    net = Net()
    net.now = 0.0
    net.send(REFUSED, TRUNK)
    final = net.raw[-1]
    assert parse(final).status == 403  # type: ignore[union-attr]
    assert net.core.transactions == 0 and len(net.core.txs.settled.completed) == 1
    times = _send_times(net, 40.0)
    h = 64 * TimerConfig().t1
    expected = _engine_schedule(h)
    assert len(times) == len(expected) == 10
    assert all(abs(a - b) < 0.051 for a, b in zip(times, expected, strict=True))
    assert set(net.raw[-len(times):]) == {final}
    assert net.idle() and RESEND not in net.timers


def test_a_retransmitted_invite_gets_the_bytes_and_the_ack_ends_the_resends() -> None:
    net = Net()
    net.now = 0.0
    net.send(REFUSED, TRUNK)
    final = net.raw[-1]
    net.send(REFUSED, TRUNK)
    assert net.raw[-1] == final and len(net.raw) == 3  # 100, 403, 403 again
    ack = REFUSED.replace(b"INVITE sip:", b"ACK sip:", 1).replace(b"1 INVITE", b"1 ACK")
    net.send(ack, TRUNK)
    assert len(net.raw) == 3 and len(net.core.txs.settled.completed) == 0
    assert net.core.settled == 1  # Confirmed: absorbs until Timer I
    net.send(REFUSED, TRUNK)  # absorbed in Confirmed: neither answered nor decided again
    net.send(ack, TRUNK)
    assert len(net.raw) == 3
    assert _send_times(net, 40.0) == []
    assert net.idle()


def test_a_cancel_finds_the_refused_invite_and_is_answered_200() -> None:
    net = Net()
    net.send(REFUSED, TRUNK)
    net.take(TRUNK)
    cancel = REFUSED.replace(b"INVITE sip:", b"CANCEL sip:", 1).replace(b"1 INVITE", b"1 CANCEL")
    net.send(cancel, TRUNK)
    (answer,) = net.take(TRUNK)
    assert answer.status == 200  # type: ignore[union-attr]


def test_over_tcp_nothing_is_resent_and_the_ack_leaves_nothing() -> None:
    net = Net()
    net.now = 0.0
    peer = Addr(TRUNK.host, TRUNK.port, "tcp")
    net.send(REFUSED.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"), peer)
    assert [m.status for m in net.take(peer)] == [100, 403]  # type: ignore[union-attr]
    assert len(net.core.txs.settled.completed) == 1
    assert _send_times(net, 10.0) == []
    ack = REFUSED.replace(b"INVITE sip:", b"ACK sip:", 1).replace(b"1 INVITE", b"1 ACK")
    net.send(ack.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"), peer)
    assert net.core.settled == 0 and net.take(peer) == []
    net.advance(40.0)  # the RESEND timer armed for Timer H finds nothing left
    assert net.idle()
