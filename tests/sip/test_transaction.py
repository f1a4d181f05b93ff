"""Per (state, event) tests of the four RFC 3261 section 17 transaction machines."""

from __future__ import annotations

import pytest

from sipguard.sip.headers import Headers
from sipguard.sip.message import Request, Response
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction import (
    TABLES,
    Arm,
    Disarm,
    Event,
    Kind,
    PassUp,
    Send,
    Terminated,
    TimedOut,
    Transaction,
    TransactionError,
    TxState,
    build_ack,
    client_key,
    server_key,
)

BRANCH = "z9hG4bK-abc"


def request(method: str = "INVITE", branch: str = BRANCH, seq: int = 1) -> Request:
    """A minimal request with the headers a transaction reads."""
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
            ("Route", "<sip:proxy.example;lr>"),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=f1"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "call-1"),
            ("CSeq", f"{seq} {method}"),
        ]
    )
    return Request(method, "sip:bob@example.com", headers)


def response(status: int, req: Request, to_tag: str = "t1") -> Response:
    """A response to ``req`` with a To tag."""
    headers = Headers(
        [
            ("Via", req.headers.get_all("via")[0]),
            ("From", req.headers.get("from") or ""),
            ("To", f"<sip:bob@example.com>;tag={to_tag}"),
            ("Call-ID", req.call_id),
            ("CSeq", str(req.cseq)),
        ]
    )
    return Response(status, "X", headers)


def ack(req: Request, to_tag: str = "t1") -> Request:
    """The ACK of a non-2xx final response, as the peer would send it."""
    return build_ack(req, response(486, req, to_tag))


def tx(kind: Kind, *, reliable: bool = False, method: str | None = None) -> Transaction:
    """A fresh transaction of ``kind``."""
    if method is None:
        method = "INVITE" if kind in (Kind.INVITE_CLIENT, Kind.INVITE_SERVER) else "OPTIONS"
    return Transaction(kind, request(method), reliable)


def sends(effects: list[object]) -> list[object]:
    """The messages among ``effects`` that go on the wire."""
    return [e.message for e in effects if isinstance(e, Send)]


def arms(effects: list[object]) -> dict[Timer, float]:
    """The timers armed by ``effects`` and when they fire."""
    return {e.timer: e.at for e in effects if isinstance(e, Arm)}


# --- client INVITE -------------------------------------------------------------------------


def test_client_invite_start_sends_and_arms_a_and_b() -> None:
    """Starting a client INVITE sends the request and arms A at T1 and B at 64*T1."""
    t = tx(Kind.INVITE_CLIENT)
    out = t.start(10.0)
    assert sends(out) == [t.request]
    assert arms(out) == {Timer.A: 10.5, Timer.B: 42.0}
    assert t.state is TxState.CALLING


def test_client_invite_timer_a_doubles_without_cap() -> None:
    """Timer A doubles on every retransmission and is not capped at T2."""
    t = tx(Kind.INVITE_CLIENT)
    t.start(0.0)
    now, fired = 0.0, []
    for _ in range(6):
        now = t.armed[Timer.A]
        out = t.fire(Timer.A, now)
        assert sends(out) == [t.request]
        fired.append(arms(out)[Timer.A] - now)
    assert fired == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_client_invite_timer_b_times_out() -> None:
    """Timer B in Calling reports a timeout and terminates, disarming Timer A."""
    t = tx(Kind.INVITE_CLIENT)
    t.start(0.0)
    out = t.fire(Timer.B, 32.0)
    assert TimedOut(Timer.B) in out
    assert Disarm(Timer.A) in out
    assert out[-1] == Terminated()
    assert t.terminated and not t.armed


def test_client_invite_provisional_stops_retransmission() -> None:
    """A 1xx in Calling moves to Proceeding, stops A and B and passes the response up."""
    t = tx(Kind.INVITE_CLIENT)
    t.start(0.0)
    r = response(180, t.request)
    out = t.receive_response(r, 0.1)
    assert PassUp(r) in out and Disarm(Timer.A) in out and Disarm(Timer.B) in out
    assert t.state is TxState.PROCEEDING
    assert t.receive_response(r, 0.2) == [PassUp(r)]


def test_client_invite_error_is_acked_and_retransmission_reacked() -> None:
    """A 486 is passed up once and ACKed; its retransmission is absorbed but ACKed again."""
    t = tx(Kind.INVITE_CLIENT)
    t.start(0.0)
    r = response(486, t.request)
    out = t.receive_response(r, 0.1)
    assert PassUp(r) in out
    (ack_msg,) = sends(out)
    assert isinstance(ack_msg, Request) and ack_msg.method == "ACK"
    assert arms(out) == {Timer.D: 32.1}
    again = t.receive_response(r, 0.2)
    assert [type(e) for e in again] == [Send]
    assert t.fire(Timer.D, 32.1)[-1] == Terminated()


def test_ack_for_error_reuses_invite_fields() -> None:
    """The ACK of a non-2xx copies top Via, Route, From, Call-ID and takes To from the reply."""
    req = request()
    a = build_ack(req, response(404, req, "zz"))
    assert a.uri == req.uri
    assert a.top_via.branch == BRANCH
    assert a.headers.get("route") == "<sip:proxy.example;lr>"
    assert a.to.tag == "zz"
    assert str(a.cseq) == "1 ACK"
    assert a.body == b""


def test_client_invite_2xx_goes_to_accepted_and_passes_retransmissions() -> None:
    """A 2xx moves to Accepted (RFC 6026): every 2xx copy goes up, Timer M ends it."""
    t = tx(Kind.INVITE_CLIENT)
    t.start(0.0)
    r = response(200, t.request)
    out = t.receive_response(r, 1.0)
    assert PassUp(r) in out and arms(out) == {Timer.M: 33.0}
    assert sends(out) == []
    assert t.receive_response(r, 1.5) == [PassUp(r)]
    assert t.receive_response(response(180, t.request), 1.6) == []
    assert t.fire(Timer.M, 33.0) == [Terminated()]


def test_client_invite_reliable_arms_no_a_and_zero_d() -> None:
    """Over TCP no Timer A is armed and Completed ends at once (Timer D is zero)."""
    t = tx(Kind.INVITE_CLIENT, reliable=True)
    assert arms(t.start(0.0)) == {Timer.B: 32.0}
    out = t.receive_response(response(500, t.request), 1.0)
    assert out[-1] == Terminated() and t.terminated


def test_client_invite_transport_error() -> None:
    """A transport error in Calling reports a failure without a timer and terminates."""
    t = tx(Kind.INVITE_CLIENT)
    t.start(0.0)
    out = t.transport_error(0.0)
    assert TimedOut(None) in out and t.terminated


# --- client non-INVITE ---------------------------------------------------------------------


def test_client_non_invite_timer_e_caps_at_t2() -> None:
    """Timer E doubles from T1 and is capped at T2 while Trying."""
    t = tx(Kind.NON_INVITE_CLIENT)
    assert arms(t.start(0.0)) == {Timer.E: 0.5, Timer.F: 32.0}
    intervals = []
    for _ in range(6):
        now = t.armed[Timer.E]
        intervals.append(arms(t.fire(Timer.E, now))[Timer.E] - now)
    assert intervals == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_client_non_invite_timer_e_is_t2_in_proceeding() -> None:
    """After a 1xx, Timer E fires at T2 intervals (section 17.1.2.2)."""
    t = tx(Kind.NON_INVITE_CLIENT)
    t.start(0.0)
    t.receive_response(response(100, t.request), 0.1)
    assert t.state is TxState.PROCEEDING
    assert arms(t.fire(Timer.E, 0.5))[Timer.E] == 4.5


def test_client_non_invite_final_then_absorb_then_k() -> None:
    """A final response is passed up once; copies are absorbed until Timer K (T4)."""
    t = tx(Kind.NON_INVITE_CLIENT)
    t.start(0.0)
    r = response(200, t.request)
    out = t.receive_response(r, 1.0)
    assert PassUp(r) in out and arms(out) == {Timer.K: 6.0}
    assert t.receive_response(r, 2.0) == []
    assert t.fire(Timer.K, 6.0) == [Terminated()]


def test_client_non_invite_timer_f_times_out() -> None:
    """Timer F reports a timeout (peer gone) and clears every timer."""
    t = tx(Kind.NON_INVITE_CLIENT)
    t.start(0.0)
    out = t.fire(Timer.F, 32.0)
    assert TimedOut(Timer.F) in out and Disarm(Timer.E) in out and t.terminated


def test_client_non_invite_reliable_terminates_on_final() -> None:
    """Over TCP a final response ends the transaction at once (Timer K is zero)."""
    t = tx(Kind.NON_INVITE_CLIENT, reliable=True)
    assert arms(t.start(0.0)) == {Timer.F: 32.0}
    out = t.receive_response(response(404, t.request), 0.1)
    assert out[-1] == Terminated()


# --- server INVITE -------------------------------------------------------------------------


def test_server_invite_passes_up_and_resends_last_provisional() -> None:
    """The INVITE goes up once; a retransmission resends the last provisional response."""
    t = tx(Kind.INVITE_SERVER)
    assert t.receive_request(t.request, 0.0) == [PassUp(t.request)]
    trying = response(100, t.request)
    assert t.respond(trying, 0.0) == [Send(trying)]
    assert t.receive_request(t.request, 0.5) == [Send(trying)]


def test_server_invite_error_retransmits_on_g_capped_until_ack() -> None:
    """A 486 is retransmitted on Timer G (doubling, capped at T2) until the ACK arrives."""
    t = tx(Kind.INVITE_SERVER)
    t.receive_request(t.request, 0.0)
    busy = response(486, t.request)
    out = t.respond(busy, 0.0)
    assert arms(out) == {Timer.G: 0.5, Timer.H: 32.0}
    intervals = []
    for _ in range(5):
        now = t.armed[Timer.G]
        step = t.fire(Timer.G, now)
        assert sends(step) == [busy]
        intervals.append(arms(step)[Timer.G] - now)
    assert intervals == [1.0, 2.0, 4.0, 4.0, 4.0]
    out = t.receive_request(ack(t.request), 20.0)
    assert t.state is TxState.CONFIRMED and arms(out) == {Timer.I: 25.0}
    assert t.receive_request(ack(t.request), 21.0) == []
    assert t.fire(Timer.I, 25.0) == [Terminated()]


def test_server_invite_timer_h_without_ack() -> None:
    """Without an ACK, Timer H reports a timeout and terminates."""
    t = tx(Kind.INVITE_SERVER)
    t.receive_request(t.request, 0.0)
    t.respond(response(603, t.request), 0.0)
    out = t.fire(Timer.H, 32.0)
    assert TimedOut(Timer.H) in out and t.terminated and not t.armed


def test_server_invite_2xx_retransmits_until_acked() -> None:
    """A 2xx is resent on Timer G until the TU reports the ACK; INVITE copies are absorbed."""
    t = tx(Kind.INVITE_SERVER)
    t.receive_request(t.request, 0.0)
    ok = response(200, t.request)
    out = t.respond(ok, 1.0)
    assert arms(out) == {Timer.G: 1.5, Timer.L: 33.0}
    assert sends(t.fire(Timer.G, 1.5)) == [ok]
    assert t.receive_request(t.request, 1.6) == []
    out = t.acked(2.0)
    assert Disarm(Timer.G) in out and Disarm(Timer.L) in out
    assert t.state is TxState.CONFIRMED


def test_server_invite_2xx_without_ack_times_out_on_l() -> None:
    """Timer L in Accepted means the 2xx was never ACKed: the TU hears a timeout."""
    t = tx(Kind.INVITE_SERVER)
    t.receive_request(t.request, 0.0)
    t.respond(response(200, t.request), 0.0)
    out = t.fire(Timer.L, 32.0)
    assert TimedOut(Timer.L) in out and t.terminated


def test_server_invite_reliable_confirmed_ends_at_once() -> None:
    """Over TCP no Timer G runs and Confirmed ends at once (Timer I is zero)."""
    t = tx(Kind.INVITE_SERVER, reliable=True)
    t.receive_request(t.request, 0.0)
    assert arms(t.respond(response(480, t.request), 0.0)) == {Timer.H: 32.0}
    out = t.receive_request(ack(t.request), 0.1)
    assert out[-1] == Terminated()


# --- server non-INVITE ---------------------------------------------------------------------


def test_server_non_invite_absorbs_in_trying_and_resends_final() -> None:
    """A copy in Trying is absorbed; after the final response, copies get it again."""
    t = tx(Kind.NON_INVITE_SERVER)
    assert t.receive_request(t.request, 0.0) == [PassUp(t.request)]
    assert t.receive_request(t.request, 0.1) == []
    ok = response(200, t.request)
    out = t.respond(ok, 0.2)
    assert sends(out) == [ok] and arms(out) == {Timer.J: 32.2}
    assert t.receive_request(t.request, 0.3) == [Send(ok)]
    assert t.respond(response(500, t.request), 0.4) == []
    assert t.fire(Timer.J, 32.2) == [Terminated()]


def test_server_non_invite_provisional_then_final() -> None:
    """A provisional moves to Proceeding, where copies resend it."""
    t = tx(Kind.NON_INVITE_SERVER)
    t.receive_request(t.request, 0.0)
    prov = response(100, t.request)
    t.respond(prov, 0.0)
    assert t.state is TxState.PROCEEDING
    assert t.receive_request(t.request, 0.1) == [Send(prov)]


def test_server_non_invite_reliable_final_ends_at_once() -> None:
    """Over TCP Timer J is zero, so the final response ends the transaction."""
    t = tx(Kind.NON_INVITE_SERVER, reliable=True)
    t.receive_request(t.request, 0.0)
    out = t.respond(response(200, t.request), 0.0)
    assert out[-1] == Terminated()


# --- illegal pairs, stale timers, keys -----------------------------------------------------


ALL_STATES = list(TxState)
ALL_EVENTS = [e for e in Event if not e.value.startswith("timer-")]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_missing_pair_raises(kind: Kind) -> None:
    """Every (state, event) pair absent from a table raises TransactionError."""
    table = TABLES[kind]
    for state in ALL_STATES:
        for event in ALL_EVENTS:
            if (state, event) in table:
                continue
            t = tx(kind)
            t.state = state
            with pytest.raises(TransactionError):
                t.handle(event, 0.0, response(200, t.request))


def test_terminated_rejects_everything() -> None:
    """A terminated transaction raises on any further input."""
    t = tx(Kind.NON_INVITE_CLIENT)
    t.start(0.0)
    t.fire(Timer.F, 32.0)
    with pytest.raises(TransactionError):
        t.receive_response(response(200, t.request), 33.0)


def test_stale_timer_is_ignored() -> None:
    """A timer that was disarmed does nothing when it fires anyway."""
    t = tx(Kind.INVITE_CLIENT)
    t.start(0.0)
    t.receive_response(response(180, t.request), 0.1)
    assert t.fire(Timer.A, 0.5) == []
    assert t.state is TxState.PROCEEDING


def test_server_key_folds_ack_onto_invite() -> None:
    """An ACK for a non-2xx has the INVITE's server key; a CANCEL does not."""
    req = request()
    assert server_key(ack(req)) == server_key(req)
    assert server_key(request("CANCEL")) != server_key(req)


def test_client_key_matches_response_to_request() -> None:
    """A response's client key is its request's key (branch and CSeq method)."""
    req = request("BYE", seq=5)
    assert client_key(response(200, req)) == client_key(req) == (BRANCH, "BYE")


def test_rfc2543_fallback_key() -> None:
    """A branch without the magic cookie still matches its retransmission and its ACK."""
    req = request(branch="old1")
    assert server_key(req)[0] == "rfc2543"
    assert server_key(ack(req)) == server_key(req)
    assert server_key(request(branch="old1", seq=2)) != server_key(req)


def test_custom_t1_scales_timers() -> None:
    """A smaller T1 scales A and B proportionally."""
    t = Transaction(Kind.INVITE_CLIENT, request(), config=TimerConfig(t1=0.1))
    assert arms(t.start(0.0)) == {Timer.A: 0.1, Timer.B: pytest.approx(6.4)}
