"""Broken answers from the callee, stray ACKs and re-INVITE retransmissions in the core."""

from __future__ import annotations

import pytest
from b2bua_harness import NET_IN, SDP, TRUNK, Net, in_dialog, invite, reply
from test_calls import setup_call

from sipguard.b2bua.effects import CallTimer, CallTimerKind, CancelTimer, Effect, StartTimer
from sipguard.sip.message import Message, Request, Response

BAD_CONTACTS = ["abc", '"Bob <sip:uas@127.0.0.4:5070>']


def ringing(net: Net) -> Request:
    """Place an allowed outbound call; returns leg B's INVITE (nothing answered yet)."""
    net.send(invite(), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    return b_inv


def statuses(msgs: list[Message]) -> list[int]:
    return [m.status for m in msgs if isinstance(m, Response)]


def methods(msgs: list[Message]) -> list[str]:
    return [m.method for m in msgs if isinstance(m, Request)]


def no_to_tag(data: bytes) -> bytes:
    """A response with its To tag taken out."""
    return data.replace(b";tag=uas1", b"")


def broken_200s(b_inv: Request) -> list[bytes]:
    answers = [reply(b_inv, 200, contact=c, body=SDP) for c in BAD_CONTACTS]
    return [*answers, no_to_tag(reply(b_inv, 200, body=SDP))]


@pytest.mark.parametrize("case", range(3), ids=["contact-abc", "unterminated-quote", "no-tag"])
def test_broken_200_is_acked_and_byed_and_the_caller_gets_502(case: int) -> None:
    """A 200 that forms no dialog: ACK and BYE leg B at once, 502 to the caller, journal 502."""
    net = Net()
    b_inv = ringing(net)
    net.send(reply(b_inv, 180), NET_IN)
    assert statuses(net.take(TRUNK)) == [180]
    bad = broken_200s(b_inv)[case]
    net.send(bad, NET_IN)
    to_b = net.take(NET_IN)
    assert methods(to_b) == ["ACK", "BYE"]
    ack, bye = to_b
    assert ack.cseq.seq == b_inv.cseq.seq and bye.call_id == b_inv.call_id
    assert statuses(net.take(TRUNK)) == [502]
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(502, "sipguard")]
    net.send(bad, NET_IN)  # a retransmission of the 200 is ACKed again, not BYEd again
    assert methods(net.take(NET_IN)) == ["ACK"]
    assert isinstance(bye, Request)
    net.send(reply(bye, 200), NET_IN)
    net.advance(200.0)  # the 502 is retransmitted unACKed until Timer H; no 408 ever
    assert set(statuses(net.take(TRUNK))) <= {502}
    assert len(net.ended) == 1 and net.idle()


@pytest.mark.parametrize("contact", BAD_CONTACTS)
def test_provisional_with_a_bad_contact_still_rings_and_the_call_goes_on(contact: str) -> None:
    """A 180 whose Contact does not parse is relayed as ringing; a good 200 then bridges."""
    net = Net()
    b_inv = ringing(net)
    net.send(reply(b_inv, 180, contact=contact), NET_IN)
    assert statuses(net.take(TRUNK)) == [180]
    net.send(reply(b_inv, 200, body=SDP), NET_IN)
    assert statuses(net.take(TRUNK)) == [200]
    assert methods(net.take(NET_IN)) == ["ACK"]
    assert net.ended == [] and net.core.active_calls == 1


def test_ack_matching_a_ringing_invite_is_absorbed() -> None:
    """An ACK with the branch of an INVITE still ringing is dropped; the call is unharmed."""
    net = Net()
    b_inv = ringing(net)
    net.send(reply(b_inv, 180), NET_IN)
    net.take(TRUNK)
    stray = invite().replace(b"INVITE sip:", b"ACK sip:", 1).replace(b"1 INVITE", b"1 ACK")
    net.send(stray, TRUNK)
    assert net.take(TRUNK) == [] and net.take(NET_IN) == []
    net.send(reply(b_inv, 200, body=SDP), NET_IN)
    assert statuses(net.take(TRUNK)) == [200]
    assert net.core.active_calls == 1


def _no_more_200s(net: Net, dest: object, until: float) -> None:
    net.advance(until)
    assert statuses(net.take(dest)) == []  # type: ignore[arg-type]


def test_caller_reinvite_200_stops_at_its_ack_and_ends_with_the_call() -> None:
    """The 200 to a caller's re-INVITE is retransmitted only until its ACK, not past the BYE."""
    net = Net()
    _b_inv, ok, _ = setup_call(net)
    net.send(in_dialog("INVITE", ok, 2, TRUNK, "z9hG4bK-re1", body=SDP), TRUNK)
    net.take(TRUNK)
    re_b = net.one(NET_IN)
    assert isinstance(re_b, Request)
    net.send(reply(re_b, 200, body=SDP), NET_IN)
    assert statuses(net.take(TRUNK)) == [200]
    net.send(in_dialog("ACK", ok, 2, TRUNK, "z9hG4bK-reack"), TRUNK)
    assert methods(net.take(NET_IN)) == ["ACK"]
    _no_more_200s(net, TRUNK, 10.0)  # a pause before the BYE
    net.send(in_dialog("BYE", ok, 3, TRUNK, "z9hG4bK-bye"), TRUNK)
    assert statuses(net.take(TRUNK)) == [200]
    bye = net.one(NET_IN)
    assert isinstance(bye, Request)
    net.send(reply(bye, 200), NET_IN)
    _no_more_200s(net, TRUNK, 60.0)
    assert net.idle()


def test_callee_reinvite_200_stops_at_its_ack_and_ends_with_the_call() -> None:
    """The same from the callee's side: its re-INVITE's 200 stops at the callee's ACK."""
    net = Net()
    _b_inv, _ok, b_ack = setup_call(net)
    ok_b = Response(200, "OK", b_ack.headers)  # the dialog as the callee sees it
    net.send(in_dialog("INVITE", ok_b, 5, NET_IN, "z9hG4bK-bre", uas=True, body=SDP), NET_IN)
    assert statuses(net.take(NET_IN)) == [100]
    re_a = net.one(TRUNK)
    assert isinstance(re_a, Request) and re_a.method == "INVITE"
    net.send(reply(re_a, 200, body=SDP), TRUNK)
    assert statuses(net.take(NET_IN)) == [200]
    net.send(in_dialog("ACK", ok_b, 5, NET_IN, "z9hG4bK-back", uas=True), NET_IN)
    assert methods(net.take(TRUNK)) == ["ACK"]
    _no_more_200s(net, NET_IN, 10.0)
    net.send(in_dialog("BYE", ok_b, 6, NET_IN, "z9hG4bK-bbye", uas=True), NET_IN)
    assert statuses(net.take(NET_IN)) == [200]
    bye = net.one(TRUNK)
    assert isinstance(bye, Request)
    net.send(reply(bye, 200), TRUNK)
    _no_more_200s(net, NET_IN, 60.0)
    assert net.idle()


def test_call_timers_are_cancelled_only_when_armed() -> None:
    """No 180: Timer C never starts and is never cancelled; the call timer goes at the BYE."""
    net = Net()
    seen: list[Effect] = []
    run = net.run

    def record(effects: list[Effect]) -> None:
        seen.extend(effects)
        run(effects)

    net.run = record  # type: ignore[method-assign]
    b_inv = ringing(net)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)
    ok = net.one(TRUNK)
    assert isinstance(ok, Response)
    net.send(in_dialog("ACK", ok, 1, TRUNK, "z9hG4bK-ack"), TRUNK)
    net.send(in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye"), TRUNK)
    call_timers = [
        (type(e).__name__, e.key.kind)
        for e in seen
        if isinstance(e, StartTimer | CancelTimer) and isinstance(e.key, CallTimer)
    ]
    max_d = CallTimerKind.MAX_DURATION
    assert call_timers == [("StartTimer", max_d), ("CancelTimer", max_d)]


def test_a_200_the_caller_never_acks_ends_the_call_with_a_bye_on_both_legs() -> None:
    """RFC 3261 13.3.1.4: once leg A's 2xx gives up unACKed (Timer L), both legs get a BYE
    and the call ends, instead of holding its state until the maximum duration."""
    net = Net()
    b_inv = ringing(net)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)
    assert statuses(net.take(TRUNK)) == [200]
    assert methods(net.take(NET_IN)) == ["ACK"]
    net.advance(40.0)  # 64 * T1 = 32 s
    to_a, to_b = net.take(TRUNK), net.take(NET_IN)
    assert set(statuses(to_a)) == {200} and set(methods(to_a)) == {"BYE"}  # and resends
    assert set(methods(to_b)) == {"BYE"}
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(200, "timeout")]
    for bye, peer in ((to_a[-1], TRUNK), (to_b[-1], NET_IN)):
        assert isinstance(bye, Request)
        net.send(reply(bye, 200), peer)
    net.advance(100.0)
    assert net.idle()


def test_a_stray_ack_with_the_invites_branch_does_not_confirm_an_answered_call() -> None:
    """An ACK that shares the caller's INVITE branch but names no dialog of ours (another
    To tag) is not the ACK of our 2xx (RFC 3261 13.2.2.4, RFC 6026 section 8.5: the TU
    matches it to a dialog): it is dropped, and Timer L still ends the call.  Before, the
    INVITE's transaction took it as the ACK and the call stayed up, with no one in it,
    until its maximum duration."""
    net = Net()
    b_inv = ringing(net)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)
    assert statuses(net.take(TRUNK)) == [200]
    net.take(NET_IN)
    stray = invite().replace(b"INVITE sip:", b"ACK sip:", 1).replace(b"1 INVITE", b"1 ACK")
    to = b"To: <sip:13800138000@127.0.0.1>"
    stray = stray.replace(to, to + b";tag=x")
    net.send(stray, TRUNK)
    assert net.take(NET_IN) == []
    net.advance(40.0)
    assert set(methods(net.take(NET_IN))) == {"BYE"}
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(200, "timeout")]


def test_an_acked_call_outlives_timer_l() -> None:
    """The plain case the rule above must not touch: an ACKed call stays up."""
    net = Net()
    b_inv = ringing(net)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)
    ok = net.one(TRUNK)
    assert isinstance(ok, Response)
    net.send(in_dialog("ACK", ok, 1, TRUNK, "z9hG4bK-ack"), TRUNK)
    net.take(NET_IN)
    net.advance(100.0)
    assert net.take(TRUNK) == [] and net.take(NET_IN) == []
    assert net.ended == [] and net.core.active_calls == 1
