"""pjsua2 as an independent SIP user agent for interop tests (RFC 3261 §8, §13, §15).

Invariants:
- pjsua2 runs on one thread: ``threadCnt=0`` and ``mainThreadOnly``, and only the owner
  drives it, by polling ``libHandleEvents``; callbacks record and never block.
- Audio stays on with the null sound device: pjsua2 2.15 aborts when it builds an SDP
  offer for a call without audio. No media files are played or recorded.
- Every SIP and RTP socket is bound to the peer's own address (tests keep it on loopback);
  no STUN, ICE, DNS or registrar is configured.
- At most four calls at a time: PJSUA_MAX_CALLS is compiled in as 4.
- Each observation is passed, as a JSON-ready dict, to the ``on_event`` callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pjsua2 as pj
from peers.pjsua import lib
from peers.pjsua.calls import CallRecord, IncomingCall, PeerCall

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a UAC saw of one call: the final answer and how the call ended."""

    status: int
    reason_header: str | None
    answered: bool
    remote_sdp: str | None
    local_sdp: str | None
    call_id: str
    hung_up_by: str | None


class _PeerAccount(pj.Account):  # type: ignore[misc]
    """The peer's one local identity; hands incoming INVITEs to the peer."""

    def __init__(self, peer: Peer) -> None:
        super().__init__()
        self.peer = peer

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.peer._incoming(self, prm)


class Peer:
    """One SIP user agent on ``bind_host:bind_port`` over UDP, TCP or both."""

    def __init__(
        self,
        bind_host: str,
        bind_port: int,
        transport: str = "udp",
        *,
        identity: str | None = None,
        rtp_port: int | None = None,
        on_event: Callable[[Event], None] | None = None,
        log_level: int = 0,
    ) -> None:
        self.host, self.port, self.transport = bind_host, bind_port, transport
        self.identity = identity or f"sip:peer@{self._hostport()}"
        self.rtp_port = rtp_port if rtp_port is not None else 10000 + 2 * (bind_port % 20000)
        self.on_event = on_event or (lambda event: None)
        self.log_level = log_level
        self.reply = 200
        self.records: list[CallRecord] = []
        self.incoming: list[IncomingCall] = []
        self._calls: list[PeerCall] = []
        self._ep: Any = None
        self._account: Any = None
        self._log: Any = None

    def _hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> None:
        """Create the pjsua2 library, its transports and the local account."""
        self._log = lib.StderrLog()
        self._ep = lib.create_endpoint(self.log_level, self._log)
        ids = lib.create_transports(self._ep, self.host, self.port, self.transport)
        lib.start(self._ep)
        acfg = pj.AccountConfig()
        acfg.idUri = self.identity
        if len(ids) == 1:
            acfg.sipConfig.transportId = ids[0]
        acfg.mediaConfig.transportConfig = lib.transport_config(self.host, self.rtp_port)
        self._account = _PeerAccount(self)
        self._account.create(acfg)
        self.emit({"event": "ready", "bind": self._hostport(), "transport": self.transport})

    def close(self) -> None:
        """Hang up whatever is left and destroy the library."""
        if self._ep is None:
            return
        self._ep.hangupAllCalls()
        self.poll(0.2)
        self._calls.clear()
        self._account.shutdown()
        self._account = None
        self._ep.libDestroy()
        self._ep = None

    def __enter__(self) -> Peer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def emit(self, event: Event) -> None:
        """Pass one observation to ``on_event``."""
        self.on_event(event)

    def poll(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Drive pjsua2 for up to ``seconds``; return True once ``until()`` holds."""
        deadline = time.monotonic() + seconds
        while True:
            if until is not None and until():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._ep.libHandleEvents(int(min(remaining, 0.02) * 1000) or 1)

    def call(
        self, uri: str, headers: dict[str, str] | None = None, timeout: float = 10.0
    ) -> CallResult:
        """Send an INVITE to ``uri``; return once its final response arrives (or timeout)."""
        if self.transport == "tcp" and "transport=" not in uri:
            uri = f"{uri};transport=tcp"
        record = CallRecord(role="uac")
        call = PeerCall(self._account, self, record)
        prm = pj.CallOpParam(useDefaultCallSetting=True)
        vector = pj.SipHeaderVector()
        for name, value in (headers or {}).items():
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            vector.append(header)
        prm.txOption.headers = vector
        self._keep(call)
        call.makeCall(uri, prm)
        self.poll(timeout, lambda: record.status is not None or record.disconnected)
        return self.result(record)

    def hangup(self, timeout: float = 5.0) -> None:
        """Send BYE (or CANCEL) on every live call and wait until they end."""
        for call in self._calls:
            if not call.record.disconnected:
                call.record.hangup_sent = True
                prm = pj.CallOpParam(useDefaultCallSetting=True)
                call.hangup(prm)
        self.poll(timeout, self.idle)

    def idle(self) -> bool:
        """True when no call is still alive."""
        return all(call.record.disconnected for call in self._calls)

    def result(self, record: CallRecord) -> CallResult:
        """The UAC's view of a call so far."""
        return CallResult(
            status=record.status or 0,
            reason_header=record.reason_header,
            answered=record.answered,
            remote_sdp=record.remote_sdp,
            local_sdp=record.local_sdp,
            call_id=record.call_id,
            hung_up_by=record.hung_up_by,
        )

    def serve(
        self, reply: int = 200, calls: int = 1, duration: float | None = None, timeout: float = 30.0
    ) -> list[IncomingCall]:
        """Answer incoming INVITEs with ``reply`` until ``calls`` calls have ended.

        With ``duration`` an answered call is hung up by this side after that many
        seconds; otherwise the peer waits for the caller's BYE.
        """
        self.reply = reply
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = [c for c in self._calls if c.record.disconnected]
            if len(ended) >= calls:
                break
            if duration is not None:
                self._hang_up_expired(duration)
            self.poll(0.05)
        return list(self.incoming)

    def _hang_up_expired(self, duration: float) -> None:
        now = time.monotonic()
        for call in self._calls:
            rec = call.record
            live = rec.answered_at is not None and not rec.disconnected and not rec.hangup_sent
            if live and now - (rec.answered_at or now) >= duration:
                rec.hangup_sent = True
                call.hangup(pj.CallOpParam(useDefaultCallSetting=True))

    def _keep(self, call: PeerCall) -> None:
        self._calls.append(call)
        self.records.append(call.record)

    def _incoming(self, account: pj.Account, prm: pj.OnIncomingCallParam) -> None:
        record = CallRecord(role="uas")
        call = PeerCall(account, self, record, prm.callId)
        self._keep(call)
        incoming = call.take_invite(prm.rdata.wholeMsg, prm.rdata.srcAddress)
        self.incoming.append(incoming)
        self.emit(incoming.as_event())
        answer = pj.CallOpParam(useDefaultCallSetting=True)
        answer.statusCode = self.reply
        call.answer(answer)
