"""End-to-end call flows through the B2BUA core with fake peers and a fake clock."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from b2bua_harness import (
    CC_IN,
    NET,
    NET_IN,
    RULES_PATH,
    SDP,
    TRUNK,
    Net,
    in_dialog,
    invite,
    reply,
)

from sipguard.b2bua import B2BUAConfig
from sipguard.b2bua.effects import Addr, Transmit
from sipguard.policy.facts import Reason
from sipguard.policy.load import load_rules
from sipguard.policy.ruleset import Ruleset
from sipguard.sip.message import Request, Response
from sipguard.sip.wire import parse


def setup_call(net: Net) -> tuple[Request, Response, Request]:
    """Place an allowed outbound call and answer it; returns (B INVITE, A's 200, B's ACK)."""
    net.send(invite(), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    net.send(reply(b_inv, 180), NET_IN)
    net.send(reply(b_inv, 200, body=SDP), NET_IN)
    got = net.take(TRUNK)
    assert [m.status for m in got] == [180, 200]  # type: ignore[union-attr]
    ok = got[1]
    assert isinstance(ok, Response)
    b_ack = net.one(NET_IN)
    assert isinstance(b_ack, Request) and b_ack.method == "ACK"
    net.send(in_dialog("ACK", ok, 1, TRUNK, "z9hG4bK-ack1"), TRUNK)
    return b_inv, ok, b_ack


def test_outbound_call_allowed_with_sdp_and_hidden_topology() -> None:
    """An allowed outbound INVITE reaches the network with SDP, our PAI and none of A's topology."""
    net = Net()
    b_inv, ok, b_ack = setup_call(net)
    assert b_inv.body == SDP and b_inv.headers.get("content-type") == "application/sdp"
    assert b_inv.headers.get("p-asserted-identity") == "<tel:+864008001234>"
    assert b_inv.max_forwards == 69
    wire = str(b_inv.headers.items())
    for secret in ("127.0.0.2", "secret-proxy", "a-call-1", "ftag1", "X-Internal"):
        assert secret not in wire
    assert [v.host for v in b_inv.vias] == ["127.0.0.1"]
    assert b_inv.uri == "sip:13800138000@127.0.0.4:5070"
    assert b_inv.headers.get("user-agent") is None  # the peer's software is not named on
    assert ok.body == SDP
    assert "127.0.0.4" not in str(ok.headers.items())
    assert b_ack.cseq.seq == b_inv.cseq.seq
    (d,) = net.decided
    assert d.verdict.allowed and len(d.legs) == 2 and d.call_key is not None
    held = [e for e in d.after if isinstance(e, Transmit)]
    assert [parse(e.data).method for e in held] == ["INVITE"]  # leg B waits for the journal
    assert net.core.active_calls == 1


def test_bye_from_caller_ends_both_legs_and_frees_memory() -> None:
    """A BYE from the caller is answered, relayed to the callee, and the call is forgotten."""
    net = Net()
    _b_inv, ok, _ = setup_call(net)
    net.send(in_dialog("BYE", ok, 2, TRUNK, "z9hG4bK-bye1"), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [200]  # type: ignore[union-attr]
    bye = net.one(NET_IN)
    assert isinstance(bye, Request) and bye.method == "BYE"
    net.send(reply(bye, 200), NET_IN)
    (ended,) = net.ended
    assert (ended.call_id, ended.final_status, ended.ended_by) == ("a-call-1", 200, "caller")
    assert ended.answered_at is not None
    net.advance(60.0)
    assert net.idle()


def test_bye_from_callee() -> None:
    """A BYE from the callee reaches the caller and ends the call as 'callee'."""
    net = Net()
    _b_inv, _, b_ack = setup_call(net)
    ok_b = Response(200, "OK", b_ack.headers)  # the dialog as the callee sees it
    net.send(in_dialog("BYE", ok_b, 5, NET_IN, "z9hG4bK-bbye", uas=True), NET_IN)
    assert [m.status for m in net.take(NET_IN)] == [200]  # type: ignore[union-attr]
    bye = net.one(TRUNK)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.uri == "sip:4008001234@127.0.0.2:5062"
    assert net.ended[0].ended_by == "callee"
    net.send(reply(bye, 200), TRUNK)
    net.advance(60.0)
    assert net.idle()


def test_inbound_call_goes_to_the_trunk() -> None:
    """An inbound call to a filed number is delivered to its trunk's deliver_to."""
    net = Net()
    net.send(invite(caller="13900139000", callee="95123", src=NET, call_id="in-1"), NET)
    assert [m.status for m in net.take(NET)] == [100]  # type: ignore[union-attr]
    b_inv = net.one(CC_IN)
    assert isinstance(b_inv, Request) and b_inv.uri == "sip:95123@127.0.0.2:5070"
    assert net.decided[0].verdict.direction is not None


def test_rejection_waits_for_journal_and_carries_reason() -> None:
    """A rejected INVITE gets its 403 with a Reason header only inside Decided.after."""
    net = Net()
    effects = net.core.on_message(invite(caller="4008009999"), TRUNK, 0.0, net_wall())
    sent_before = [e for e in effects if isinstance(e, Transmit)]
    assert [b.split(b"\r\n", 1)[0] for b in (e.data for e in sent_before)] == [
        b"SIP/2.0 100 Trying"
    ]
    net.run(effects)
    (d,) = net.decided
    assert d.verdict.reason is Reason.CALLER_UNREGISTERED
    final = net.take(TRUNK)[-1]
    assert isinstance(final, Response) and final.status == 403
    assert final.headers.get("reason") == 'SIP;cause=403;text="CALLER_UNREGISTERED"'
    assert NET_IN not in net.inbox
    net.send(in_dialog("ACK", final, 1, TRUNK, "z9hG4bK-a1"), TRUNK)
    assert net.take(TRUNK) == []
    net.advance(40.0)
    assert net.idle() and net.ended == []


def net_wall():  # type: ignore[no-untyped-def]
    """The wall clock of the harness."""
    from b2bua_harness import WALL

    return WALL


def test_invite_retransmission_is_absorbed() -> None:
    """A retransmitted INVITE re-sends 100 Trying and is neither screened nor relayed again."""
    net = Net()
    net.send(invite(), TRUNK)
    net.take(TRUNK)
    net.one(NET_IN)
    net.send(invite(), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    assert net.take(NET_IN) == [] and len(net.decided) == 1


def test_cancel_ends_both_legs_with_487() -> None:
    """CANCEL from the caller: 200 and 487 to A, CANCEL to B, B's 487 is ACKed."""
    net = Net()
    net.send(invite(), TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    net.send(reply(b_inv, 180), NET_IN)
    net.take(TRUNK)
    cancel = invite().replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL")
    net.send(cancel, TRUNK)
    assert sorted(m.status for m in net.take(TRUNK)) == [200, 487]  # type: ignore[union-attr]
    b_cancel = net.one(NET_IN)
    assert isinstance(b_cancel, Request) and b_cancel.method == "CANCEL"
    assert b_cancel.top_via.branch == b_inv.top_via.branch
    net.send(reply(b_cancel, 200), NET_IN)
    net.send(reply(b_inv, 487), NET_IN)
    ack = net.one(NET_IN)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(487, "caller")]
    net.advance(60.0)
    assert net.idle()


def test_timer_b_on_leg_b_gives_408() -> None:
    """A callee that never answers: Timer B fires and the caller gets 408."""
    net = Net()
    net.send(invite(), TRUNK)
    net.take(TRUNK)
    net.advance(40.0)
    assert len(net.take(NET_IN)) == 7  # the INVITE and 6 retransmissions within 32 s
    got = net.take(TRUNK)  # the 408 and its Timer G retransmissions (A sends no ACK)
    assert got and {m.status for m in got} == {408}  # type: ignore[union-attr]
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(408, "timeout")]
    net.advance(80.0)
    assert net.idle()


def test_callee_busy_relayed_and_freed() -> None:
    """A 486 from the callee reaches the caller; leg B is ACKed; the call ends."""
    net = Net()
    net.send(invite(), TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    net.send(reply(b_inv, 486), NET_IN)
    assert net.one(NET_IN).method == "ACK"  # type: ignore[union-attr]
    assert [m.status for m in net.take(TRUNK)] == [100, 486]  # type: ignore[union-attr]
    assert net.ended[0].final_status == 486 and net.ended[0].answered_at is None
    net.advance(60.0)
    assert net.idle()


def test_unknown_dialog_gets_481() -> None:
    """A BYE for a dialog that does not exist is answered 481."""
    net = Net()
    fake = Response(200, "OK", Request("X", "sip:x", invite_headers()).headers)
    net.send(in_dialog("BYE", fake, 2, TRUNK, "z9hG4bK-z"), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [481]  # type: ignore[union-attr]


def invite_headers():  # type: ignore[no-untyped-def]
    """Headers of a dialog nobody knows."""
    from sipguard.sip.headers import Headers

    return Headers(
        [
            ("From", "<sip:a@127.0.0.2>;tag=x1"),
            ("To", "<sip:b@127.0.0.1>;tag=nope"),
            ("Call-ID", "nobody"),
            ("CSeq", "1 INVITE"),
        ]
    )


def test_reinvite_relayed_and_acked_across() -> None:
    """A re-INVITE from the caller goes to the callee; 200 comes back; the ACK crosses too."""
    net = Net()
    _b_inv, ok, _b_ack = setup_call(net)
    net.send(in_dialog("INVITE", ok, 2, TRUNK, "z9hG4bK-re1", body=SDP + b"a=x\r\n"), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    re_b = net.one(NET_IN)
    assert isinstance(re_b, Request) and re_b.method == "INVITE"
    assert re_b.body.endswith(b"a=x\r\n") and re_b.to.tag == "uas1"
    assert re_b.uri == "sip:uas@127.0.0.4:5070"
    net.send(reply(re_b, 200, body=SDP), NET_IN)
    ok2 = net.one(TRUNK)
    assert isinstance(ok2, Response) and ok2.status == 200 and ok2.cseq.seq == 2
    net.send(in_dialog("ACK", ok, 2, TRUNK, "z9hG4bK-reack"), TRUNK)
    ack_b = net.one(NET_IN)
    assert isinstance(ack_b, Request) and ack_b.method == "ACK"
    assert ack_b.cseq.seq == re_b.cseq.seq


def test_prack_maps_rseq_and_rack() -> None:
    """A reliable 183 gets leg A's RSeq; the caller's PRACK reaches B with B's RSeq in RAck."""
    net = Net()
    net.send(invite(), TRUNK)
    net.take(TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    prov = reply(b_inv, 183, body=SDP, extra=("Require: 100rel", "RSeq: 777"))
    net.send(prov, NET_IN)
    a183 = net.one(TRUNK)
    assert isinstance(a183, Response) and a183.status == 183 and a183.body == SDP
    assert a183.headers.get("rseq") == "1" and a183.headers.get("require") == "100rel"
    net.send(prov, NET_IN)  # B retransmits until PRACKed: same RSeq for A
    assert net.one(TRUNK).headers.get("rseq") == "1"
    prack = in_dialog("PRACK", a183, 2, TRUNK, "z9hG4bK-pr", extra=("RAck: 1 1 INVITE",))
    net.send(prack, TRUNK)
    b_prack = net.one(NET_IN)
    assert isinstance(b_prack, Request) and b_prack.method == "PRACK"
    assert b_prack.headers.get("rack") == f"777 {b_inv.cseq.seq} INVITE"
    net.send(reply(b_prack, 200), NET_IN)
    assert [m.status for m in net.take(TRUNK)] == [200]  # type: ignore[union-attr]


def test_max_duration_hangs_up_both_legs() -> None:
    """At the maximum call duration both legs get a BYE and the call ends as 'limit'."""
    net = Net(B2BUAConfig(local=Addr("127.0.0.1", 5060), max_duration=60.0))
    setup_call(net)
    net.advance(60.1)
    assert net.one(TRUNK).method == "BYE"  # type: ignore[union-attr]
    assert net.one(NET_IN).method == "BYE"  # type: ignore[union-attr]
    assert net.ended[0].ended_by == "limit"
    net.advance(200.0)  # nobody answers the BYEs: Timer F frees them
    assert net.idle()


def test_overload_answers_503_with_retry_after() -> None:
    """Beyond the concurrent-call cap a new INVITE gets 503 with Retry-After."""
    net = Net(B2BUAConfig(local=Addr("127.0.0.1", 5060), max_concurrent=1))
    net.send(invite(), TRUNK)
    net.take(TRUNK)
    net.send(invite(call_id="a-call-2", branch="z9hG4bK-a2"), TRUNK)
    final = net.take(TRUNK)[-1]
    assert isinstance(final, Response) and final.status == 503
    assert final.headers.get("retry-after") == "5"
    assert len(net.decided) == 1


def test_journal_down_refuses_outbound_only() -> None:
    """With the journal failing allowed outbound calls get 503 while inbound calls still go
    through, and outbound rejections are still decided and answered with their reason."""
    net = Net()
    net.core.journal_ok = False
    net.journal_fails = True
    net.send(invite(), TRUNK)
    assert net.take(TRUNK)[-1].status == 503  # type: ignore[union-attr]
    net.send(invite(caller="13900139000", callee="95123", src=NET, call_id="in-2"), NET)
    assert net.one(CC_IN).method == "INVITE"  # type: ignore[union-attr]
    net.send(invite(caller="4001112222", call_id="rej-3", branch="z9hG4bK-r3"), TRUNK)
    final = net.take(TRUNK)[-1]
    assert isinstance(final, Response) and final.status == 403
    assert "CALLER_UNREGISTERED" in (final.headers.get("reason") or "")
    assert [d.verdict.reason.value for d in net.decided][-1] == "CALLER_UNREGISTERED"


def test_an_unhealthy_journal_that_writes_again_lets_outbound_calls_through() -> None:
    """The record of the next allowed call is itself the probe: once it is durable the call
    goes on, with no restart and no inbound call needed."""
    net = Net()
    net.core.journal_ok = False  # the last write failed; this one succeeds
    net.send(invite(), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [100]  # type: ignore[union-attr]
    assert net.one(NET_IN).method == "INVITE"  # type: ignore[union-attr]


def test_options_parse_error_and_max_forwards() -> None:
    """OPTIONS gets 200, a malformed request its hinted status, Max-Forwards 0 gets 483."""
    net = Net()
    options = (
        invite(body=b"").replace(b"INVITE sip", b"OPTIONS sip").replace(b"1 INVITE", b"1 OPTIONS")
    )
    net.send(options, TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [200]  # type: ignore[union-attr]
    net.send(invite().replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), TRUNK)
    assert [m.status for m in net.take(TRUNK)] == [400]  # type: ignore[union-attr]
    net.send(invite(branch="z9hG4bK-mf").replace(b"Max-Forwards: 70", b"Max-Forwards: 0"), TRUNK)
    assert net.take(TRUNK)[-1].status == 483  # type: ignore[union-attr]


def test_reload_swaps_rules_for_new_calls() -> None:
    """After reload the core uses the new ruleset object for the next decision."""
    net = Net()
    setup_call(net)
    from b2bua_harness import rules

    fresh = type(rules())
    assert isinstance(net.core.rules, fresh)
    net.core.reload(rules())
    assert net.core.rules is rules() and net.core.active_calls == 1


def test_outbound_call_whose_decision_is_not_durable_is_refused_503() -> None:
    """An allowed outbound call is never let through unrecorded: leg B is never sent, A gets 503."""
    net = Net()
    net.journal_fails = True
    net.send(invite(), TRUNK)
    sent = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    assert [m.status for m in sent] == [100, 503]
    assert sent[1].headers.get("retry-after") == "5"
    assert net.take(NET_IN) == []
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(503, "sipguard")]
    net.advance(40.0)
    assert net.idle()


def test_inbound_call_goes_ahead_when_its_decision_is_not_durable() -> None:
    """Inbound calls go on while the journal is failing; the shell logs their records."""
    net = Net()
    net.journal_fails = True
    net.send(invite("13900139000", "95123", src=NET), NET)
    b_inv = net.one(CC_IN)
    assert isinstance(b_inv, Request) and b_inv.method == "INVITE"


def test_cancel_while_the_decision_is_being_journaled_never_reaches_the_callee() -> None:
    """A CANCEL that beats the journal: A gets 200 and 487, leg B's INVITE is never sent."""
    net = Net()
    net.hold_decisions = True
    net.send(invite(), TRUNK)
    first = net.take(TRUNK)
    assert [m.status for m in first if isinstance(m, Response)] == [100]
    cancel = invite().replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL")
    net.send(cancel, TRUNK)
    got = sorted(m.status for m in net.take(TRUNK) if isinstance(m, Response))
    assert got == [200, 487]
    net.settle()
    assert net.take(NET_IN) == []  # neither the INVITE nor a CANCEL ever goes to leg B
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(487, "caller")]
    net.advance(60.0)
    assert net.idle()


def _rules_with_max_cps(tmp_path: Path, cps: str) -> Ruleset:
    text = re.sub(r"max_cps: \d+", f"max_cps: {cps}", RULES_PATH.read_text(encoding="utf-8"))
    assert f"max_cps: {cps}" in text
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    shutil.copy(RULES_PATH.with_name("consents.csv"), tmp_path / "consents.csv")
    return load_rules(tmp_path / "rules.yaml")


def test_trunk_max_cps_from_the_rules_answers_503_and_follows_a_reload(tmp_path: Path) -> None:
    """A trunk's max_cps caps its new calls per second; a reload with a higher cap applies."""
    net = Net()
    net.core.reload(_rules_with_max_cps(tmp_path, "1"))

    def status_of_call(i: int) -> int:
        net.send(invite(call_id=f"cps-{i}", branch=f"z9hG4bK-c{i}"), TRUNK)
        return net.take(TRUNK)[-1].status  # type: ignore[union-attr]

    assert [status_of_call(i) for i in range(3)] == [100, 503, 503]  # 1 token a second
    net.now += 1.0
    assert status_of_call(3) == 100
    net.core.reload(_rules_with_max_cps(tmp_path, "100"))
    assert status_of_call(4) == 403  # admitted now: the daily cap of 2 decides instead


def _as_method(method: str) -> bytes:
    req = invite(body=b"", branch=f"z9hG4bK-{method.lower()}")
    return req.replace(b"INVITE sip", f"{method} sip".encode()).replace(
        b"1 INVITE", f"1 {method}".encode()
    )


def test_known_method_outside_a_dialog_gets_405_and_an_unknown_one_501() -> None:
    """RFC 3261 section 8.2.1: 405 with Allow for a method we know, 501 for one we do not."""
    net = Net()
    net.send(_as_method("SUBSCRIBE"), TRUNK)
    (known,) = net.take(TRUNK)
    assert isinstance(known, Response) and known.status == 405
    assert known.headers.get("allow") is not None
    net.send(_as_method("FROBNICATE"), TRUNK)
    (unknown,) = net.take(TRUNK)
    assert isinstance(unknown, Response) and unknown.status == 501


def test_callee_ringing_too_long_is_cancelled_and_the_caller_gets_408() -> None:
    """Timer C: 181 s after the last provisional, leg B is cancelled and A hears 408."""
    net = Net()
    net.send(invite(), TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    net.send(reply(b_inv, 180), NET_IN)
    net.take(TRUNK)
    net.advance(150.0)
    net.send(reply(b_inv, 180), NET_IN)  # a new provisional restarts the timer
    net.take(TRUNK)
    net.advance(300.0)
    assert net.take(TRUNK) == []
    net.advance(331.1)  # 150 + 181 s: before the CANCEL's first retransmission
    b_cancel = net.one(NET_IN)
    assert isinstance(b_cancel, Request) and b_cancel.method == "CANCEL"
    finals = [m for m in net.take(TRUNK) if isinstance(m, Response)]
    assert finals and {m.status for m in finals} == {408}
    assert [(e.final_status, e.ended_by) for e in net.ended] == [(408, "timeout")]
    net.send(reply(b_cancel, 200), NET_IN)
    net.send(reply(b_inv, 487), NET_IN)
    ack = net.one(NET_IN)
    assert isinstance(ack, Request) and ack.method == "ACK"
    net.advance(500.0)
    assert net.idle()
