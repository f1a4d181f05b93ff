"""Client and server transactions wired back to back through a lossy fake network."""

from __future__ import annotations

from sipguard.sip.headers import Headers
from sipguard.sip.message import Request, Response
from sipguard.sip.timers import Timer
from sipguard.sip.transaction import (
    Arm,
    Kind,
    PassUp,
    Send,
    Transaction,
    TxEffect,
    TxState,
    server_key,
)
from sipguard.sip.wire import parse, serialise


def request(method: str) -> Request:
    """A minimal request with the headers a transaction reads."""
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-b2b"),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=f1"),
            ("To", "<sip:bob@example.com>"),
            ("Call-ID", "call-b2b"),
            ("CSeq", f"1 {method}"),
        ]
    )
    return Request(method, "sip:bob@example.com", headers)


def response(status: int, req: Request) -> Response:
    """A response to ``req`` with a To tag."""
    headers = Headers([(n, v) for n, v in req.headers.items() if n != "To"])
    headers.add("To", "<sip:bob@example.com>;tag=t1")
    return Response(status, "X", headers)


class Pair:
    """A client transaction and the server transaction its request creates."""

    def __init__(self, method: str, drop: int = 0, *, reliable: bool = False) -> None:
        kind = Kind.INVITE_CLIENT if method == "INVITE" else Kind.NON_INVITE_CLIENT
        self.client = Transaction(kind, request(method), reliable)
        self.server: Transaction | None = None
        self.reliable = reliable
        self.drop_next = drop  # how many client->server datagrams to lose
        self.client_up: list[Response] = []
        self.server_up: list[Request] = []
        self.now = 0.0

    def run_client(self, effects: list[TxEffect]) -> None:
        for e in effects:
            if isinstance(e, Send):
                self.to_server(parse(serialise(e.message)))
            elif isinstance(e, PassUp):
                assert isinstance(e.message, Response)
                self.client_up.append(e.message)

    def to_server(self, msg: object) -> None:
        if self.drop_next:
            self.drop_next -= 1
            return
        assert isinstance(msg, Request)
        if self.server is None:
            kind = Kind.INVITE_SERVER if msg.method == "INVITE" else Kind.NON_INVITE_SERVER
            self.server = Transaction(kind, msg, self.reliable)
        assert server_key(msg) == server_key(self.server.request)
        self.run_server(self.server.receive_request(msg, self.now))

    def run_server(self, effects: list[TxEffect]) -> None:
        for e in effects:
            if isinstance(e, Send):
                reply = parse(serialise(e.message))
                assert isinstance(reply, Response)
                self.run_client(self.client.receive_response(reply, self.now))
            elif isinstance(e, PassUp):
                assert isinstance(e.message, Request)
                self.server_up.append(e.message)

    def answer(self, status: int) -> None:
        assert self.server is not None
        self.run_server(self.server.respond(response(status, self.server.request), self.now))

    def tick_until(self, t: float) -> None:
        """Fire every armed timer of both sides, in time order, up to ``t``."""
        while True:
            pending = [(at, tm, side) for side in self.sides() for tm, at in side.armed.items()]
            pending = [p for p in pending if p[0] <= t]
            if not pending:
                self.now = t
                return
            at, timer, side = min(pending, key=lambda p: p[0])
            self.now = at
            effects = side.fire(timer, at)
            (self.run_client if side is self.client else self.run_server)(effects)

    def sides(self) -> list[Transaction]:
        return [self.client] + ([self.server] if self.server else [])


def test_invite_rejected_end_to_end() -> None:
    """INVITE, 180, 486 and ACK: each side sees each message once and both terminate."""
    p = Pair("INVITE")
    p.run_client(p.client.start(0.0))
    assert len(p.server_up) == 1
    p.answer(180)
    p.answer(486)
    assert [r.status for r in p.client_up] == [180, 486]
    assert p.server is not None and p.server.state is TxState.CONFIRMED
    p.tick_until(40.0)
    assert p.client.terminated and p.server.terminated


def test_lost_invite_is_retransmitted_and_absorbed() -> None:
    """Two lost INVITEs are recovered by Timer A; the server passes only one up."""
    p = Pair("INVITE", drop=2)
    p.run_client(p.client.start(0.0))
    assert p.server is None
    p.tick_until(1.6)
    assert p.server is not None and len(p.server_up) == 1
    p.answer(100)
    p.tick_until(3.5)
    assert len(p.server_up) == 1
    assert p.client.state is TxState.PROCEEDING


def test_2xx_retransmitted_until_tu_acks() -> None:
    """The server resends its 2xx on Timer G; the client passes every copy to its TU."""
    p = Pair("INVITE")
    p.run_client(p.client.start(0.0))
    p.answer(200)
    p.tick_until(1.6)  # G fires at 0.5 and 1.5
    assert [r.status for r in p.client_up] == [200, 200, 200]
    assert p.server is not None
    p.run_server(p.server.acked(1.7))
    p.tick_until(40.0)
    assert p.client.terminated and p.server.terminated


def test_non_invite_peer_silent_times_out() -> None:
    """A request that is never answered is retransmitted then fails on Timer F."""
    p = Pair("OPTIONS", drop=100)
    p.run_client(p.client.start(0.0))
    sent = 1
    while not p.client.terminated:
        at = min(p.client.armed.values())
        out = p.client.fire(min(p.client.armed, key=p.client.armed.__getitem__), at)
        sent += sum(isinstance(e, Send) for e in out)
    # T1=0.5 doubling to T2=4 within 64*T1=32s gives 11 copies in all.
    assert sent == 11


def test_reliable_pair_has_no_retransmission_timers() -> None:
    """Over a reliable transport neither side arms A, E or G."""
    p = Pair("INVITE", reliable=True)
    first = p.client.start(0.0)
    assert {e.timer for e in first if isinstance(e, Arm)} == {Timer.B}
    p.run_client(first)
    p.answer(486)
    assert p.client.terminated
    assert p.server is not None and p.server.terminated


def test_server_terminates_after_final_non_invite() -> None:
    """A BYE answered 200 ends both sides once Timers J and K run out."""
    p = Pair("BYE")
    p.run_client(p.client.start(0.0))
    p.answer(200)
    assert [r.status for r in p.client_up] == [200]
    p.tick_until(40.0)
    assert p.client.terminated and p.server is not None and p.server.terminated
