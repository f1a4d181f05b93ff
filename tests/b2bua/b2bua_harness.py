"""A fake network and clock around the B2BUA core, and the SIP peers that talk through it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sipguard
from sipguard.b2bua import B2BUA, B2BUAConfig
from sipguard.b2bua.effects import (
    Addr,
    CallEnded,
    CancelTimer,
    Decided,
    Effect,
    Malformed,
    StartTimer,
    TimerKey,
    Transmit,
)
from sipguard.policy.load import load_rules
from sipguard.policy.ruleset import Ruleset
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.wire import parse

RULES_PATH = Path(sipguard.__file__).parent / "data" / "rules.yaml"
WALL = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TRUNK = Addr("127.0.0.2", 5062)  # the call center sending outbound calls
CC_IN = Addr("127.0.0.2", 5070)  # where inbound calls to the call center go
NET = Addr("127.0.0.4", 5062)  # the carrier sending inbound calls
NET_IN = Addr("127.0.0.4", 5070)  # where outbound calls go
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n"
_RULES: list[Ruleset] = []


def rules() -> Ruleset:
    """The example ruleset, loaded once."""
    if not _RULES:
        _RULES.append(load_rules(RULES_PATH))
    return _RULES[0]


def invite(
    caller: str = "4008001234",
    callee: str = "13800138000",
    src: Addr = TRUNK,
    call_id: str = "a-call-1",
    branch: str = "z9hG4bK-a1",
    body: bytes = SDP,
    extra: str = "",
) -> bytes:
    """An initial INVITE as a peer at ``src`` would send it."""
    lines = [
        f"INVITE sip:{callee}@127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP {src.host}:{src.port};branch={branch}",
        "Record-Route: <sip:secret-proxy.cc.example;lr>",
        "Max-Forwards: 70",
        f"From: <sip:{caller}@{src.host}>;tag=ftag1",
        f"To: <sip:{callee}@127.0.0.1>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:{caller}@{src.host}:{src.port}>",
        "Supported: 100rel, timer",
        "User-Agent: cc-pbx/1.0",
        "X-Internal: leak-me-not",
    ]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reply(
    req: Request,
    status: int,
    tag: str = "uas1",
    contact: str = "<sip:uas@127.0.0.4:5070>",
    body: bytes = b"",
    extra: tuple[str, ...] = (),
) -> bytes:
    """A peer's response to ``req`` (From/To/Via/Call-ID/CSeq copied, To tag added)."""
    to = req.headers.get("to") or ""
    if ";tag=" not in to and status > 100:
        to += f";tag={tag}"
    lines = [f"SIP/2.0 {status} Whatever"]
    lines += [f"Via: {v}" for v in req.headers.get_fields("via")]
    lines += [
        f"From: {req.headers.get('from')}",
        f"To: {to}",
        f"Call-ID: {req.call_id}",
        f"CSeq: {req.cseq}",
    ]
    if 100 < status < 300:
        lines.append(f"Contact: {contact}")
    lines += list(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def in_dialog(
    method: str,
    resp: Response,
    seq: int,
    src: Addr,
    branch: str,
    *,
    uas: bool = False,
    body: bytes = b"",
    extra: tuple[str, ...] = (),
) -> bytes:
    """A request inside the dialog that ``resp`` established, from the UAC (or the UAS)."""
    frm, to = resp.headers.get("from"), resp.headers.get("to")
    if uas:
        frm, to = to, frm
    lines = [
        f"{method} sip:sipguard@127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP {src.host}:{src.port};branch={branch}",
        "Max-Forwards: 70",
        f"From: {frm}",
        f"To: {to}",
        f"Call-ID: {resp.call_id}",
        f"CSeq: {seq} {method}",
        *extra,
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Net:
    """Runs the core with a fake clock; collects what it sends, per destination."""

    def __init__(self, config: B2BUAConfig | None = None) -> None:
        self.core = B2BUA(rules(), config=config or B2BUAConfig(local=Addr("127.0.0.1", 5060)))
        self.now = 0.0
        self.inbox: dict[Addr, list[Message]] = {}
        self.timers: dict[TimerKey, float] = {}
        self.decided: list[Decided] = []
        self.ended: list[CallEnded] = []
        self.malformed: list[Malformed] = []
        self.raw: list[bytes] = []
        self.journal_fails = False  # when True, decisions are "not durable"
        self.hold_decisions = False  # when True, decisions wait in ``pending``
        self.pending: list[Decided] = []

    def send(self, data: bytes, source: Addr) -> None:
        """Deliver ``data`` from ``source`` to the core."""
        self.run(self.core.on_message(data, source, self.now, WALL))

    def run(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, Transmit):
                self.raw.append(e.data)
                self.inbox.setdefault(e.dest, []).append(parse(e.data))
            elif isinstance(e, StartTimer):
                self.timers[e.key] = e.at
            elif isinstance(e, CancelTimer):
                self.timers.pop(e.key, None)
            elif isinstance(e, Decided):
                self._decided(e)
            elif isinstance(e, CallEnded):
                self.ended.append(e)
            elif isinstance(e, Malformed):
                self.malformed.append(e)
            else:
                raise AssertionError(f"unknown effect {e!r}")

    def _decided(self, e: Decided) -> None:
        """Journal a decision as the shell would: failed, held, or durable at once."""
        self.decided.append(e)
        outbound_allowed = e.verdict.allowed and e.verdict.direction == "outbound"
        if self.journal_fails and outbound_allowed:
            self.run(self.core.unrecorded(e.call_key, self.now, WALL))
        elif self.hold_decisions:
            self.pending.append(e)
        elif self.core.release(e.call_key):
            self.run(list(e.after))

    def settle(self) -> None:
        """The held decisions become durable now, in order."""
        held, self.pending = self.pending, []
        for e in held:
            if self.core.release(e.call_key):
                self.run(list(e.after))

    def advance(self, to: float) -> None:
        """Fire every timer due up to ``to``, in time order."""
        while self.timers:
            key, at = min(self.timers.items(), key=lambda kv: kv[1])
            if at > to:
                break
            del self.timers[key]
            self.now = max(self.now, at)
            self.run(self.core.on_timer(key, self.now, WALL))
        self.now = to

    def take(self, dest: Addr) -> list[Message]:
        """Everything sent to ``dest`` since the last take."""
        return self.inbox.pop(dest, [])

    def one(self, dest: Addr) -> Message:
        """The single message sent to ``dest`` since the last take."""
        got = self.take(dest)
        assert len(got) == 1, got
        return got[0]

    def idle(self) -> bool:
        """No call, no transaction (live or settled) and no timer left."""
        core = self.core
        busy = core.active_calls or core.transactions or core.settled or core.table.held
        return not (busy or self.timers)
