"""One call of the pjsua2 test peer, and what it records (RFC 3261 §13-§15, RFC 3326).

Invariants:
- a call records the *first* final response to its INVITE; later ones (retransmissions,
  re-INVITEs) never overwrite it;
- callbacks only record and report: they never block and never poll the library;
- ``hung_up_by`` says which side sent the BYE: ``remote`` when one arrived, ``local``
  when this peer hung up, ``None`` for a call that never connected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pjsua2 as pj
from peers.pjsua.text import SipText, parse_text

if TYPE_CHECKING:
    from peers.pjsua.peer import Peer

STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}


@dataclass(slots=True)
class CallRecord:
    """The mutable record of one call, filled in by pjsua2 callbacks."""

    role: str
    call_id: str = ""
    status: int | None = None
    reason_header: str | None = None
    remote_sdp: str | None = None
    local_sdp: str | None = None
    local_sdp_sent: bool = False
    answered: bool = False
    answered_at: float | None = None
    disconnected: bool = False
    hangup_sent: bool = False
    bye_received: bool = False
    provisional: list[int] = field(default_factory=list)

    @property
    def hung_up_by(self) -> str | None:
        """Which side ended an answered call: ``remote``, ``local`` or ``None``."""
        if not self.answered:
            return None
        if self.bye_received:
            return "remote"
        return "local" if self.hangup_sent else None


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """An INVITE as the UAS received it: the headers sipguard is meant to rewrite, and SDP."""

    call_id: str
    source: str
    request_uri: str | None
    from_: str | None
    to: str | None
    pai: tuple[str, ...]
    privacy: str | None
    headers: tuple[tuple[str, str], ...]
    sdp: str | None

    def as_event(self) -> dict[str, Any]:
        """The ``incoming`` JSON event for this INVITE."""
        return {
            "event": "incoming",
            "call_id": self.call_id,
            "source": self.source,
            "request_uri": self.request_uri,
            "from": self.from_,
            "to": self.to,
            "pai": list(self.pai),
            "privacy": self.privacy,
            "headers": [list(h) for h in self.headers],
            "sdp": self.sdp,
        }


def _received_text(event: pj.SipEvent) -> str:
    """The raw text of the message carried by a pjsua2 SipEvent, or ``""``."""
    if event.type == pj.PJSIP_EVENT_RX_MSG:
        return str(event.body.rxMsg.rdata.wholeMsg)
    if event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG:
        return str(event.body.tsxState.src.rdata.wholeMsg)
    return ""


def _sent_text(event: pj.SipEvent) -> str:
    """The raw text of the message a pjsua2 SipEvent says was sent, or ``""``."""
    if event.type == pj.PJSIP_EVENT_TX_MSG:
        return str(event.body.txMsg.tdata.wholeMsg)
    if event.type == pj.PJSIP_EVENT_TSX_STATE and event.body.tsxState.type == pj.PJSIP_EVENT_TX_MSG:
        return str(event.body.tsxState.src.tdata.wholeMsg)
    return ""


class PeerCall(pj.Call):  # type: ignore[misc]
    """A pjsua2 call that records what it sees into a ``CallRecord``."""

    def __init__(
        self, account: pj.Account, peer: Peer, record: CallRecord, call_id: int = -1
    ) -> None:
        super().__init__(account, call_id)
        self.peer = peer
        self.record = record

    def take_invite(self, whole_msg: str, source: str) -> IncomingCall:
        """Record the INVITE that created this UAS call and describe it."""
        msg = parse_text(whole_msg)
        self.record.call_id = msg.get("Call-ID") or ""
        self.record.remote_sdp = msg.body
        return IncomingCall(
            call_id=self.record.call_id,
            source=source,
            request_uri=msg.request_uri,
            from_=msg.get("From"),
            to=msg.get("To"),
            pai=tuple(msg.get_all("P-Asserted-Identity")),
            privacy=msg.get("Privacy"),
            headers=msg.headers,
            sdp=msg.body,
        )

    def onCallSdpCreated(self, prm: pj.OnCallSdpCreatedParam) -> None:
        """Keep the SDP this side offers or answers, until the one on the wire is seen."""
        if not self.record.local_sdp_sent:
            self.record.local_sdp = str(prm.sdp.wholeSdp)

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:
        """Look at every message sent or received within the call."""
        self._sent(_sent_text(prm.e))
        self._received(_received_text(prm.e))

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        """Follow the INVITE session through its states and report each one."""
        self._sent(_sent_text(prm.e))
        self._received(_received_text(prm.e))
        info = self.getInfo()
        rec = self.record
        rec.call_id = rec.call_id or str(info.callIdString)
        state = STATE_NAMES.get(info.state, str(info.state))
        self.peer.emit(
            {
                "event": "state",
                "role": rec.role,
                "call_id": rec.call_id,
                "state": state,
                "status": int(info.lastStatusCode),
            }
        )
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and not rec.answered:
            rec.answered, rec.answered_at = True, time.monotonic()
            if rec.status is None:
                rec.status = 200
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not rec.disconnected:
            rec.disconnected = True
            if rec.status is None:
                rec.status = int(info.lastStatusCode)
            self.peer.emit(
                {
                    "event": "disconnected",
                    "role": rec.role,
                    "call_id": rec.call_id,
                    "status": rec.status,
                    "answered": rec.answered,
                    "by": rec.hung_up_by,
                    "local_sdp": rec.local_sdp,
                    "remote_sdp": rec.remote_sdp,
                }
            )

    def _sent(self, text: str) -> None:
        """Keep the first SDP this side really sent: in its INVITE or its 2xx answer."""
        if not text or self.record.local_sdp_sent:
            return
        msg = parse_text(text)
        status = msg.status or 0
        carries_sdp = msg.method == "INVITE" and (not msg.is_response or 200 <= status < 300)
        if carries_sdp and msg.body:
            self.record.local_sdp, self.record.local_sdp_sent = msg.body, True

    def _received(self, text: str) -> None:
        if not text:
            return
        msg = parse_text(text)
        if not msg.is_response:
            if msg.method == "BYE":
                self.record.bye_received = True
            return
        status = msg.status
        if msg.method != "INVITE" or status is None:
            return
        rec = self.record
        rec.call_id = rec.call_id or (msg.get("Call-ID") or "")
        if status < 200:
            if status not in rec.provisional:
                rec.provisional.append(status)
                self.peer.emit({"event": "provisional", "call_id": rec.call_id, "status": status})
        elif rec.role == "uac" and rec.status is None:
            self._final(msg, status)

    def _final(self, msg: SipText, status: int) -> None:
        rec = self.record
        rec.status = status
        rec.reason_header = msg.get("Reason")
        content_type = (msg.get("Content-Type") or "").lower()
        rec.remote_sdp = msg.body if "application/sdp" in content_type else None
        self.peer.emit(
            {
                "event": "final",
                "call_id": rec.call_id,
                "status": status,
                "reason_header": rec.reason_header,
                "answered": 200 <= status < 300,
                "remote_sdp": rec.remote_sdp,
                "local_sdp": rec.local_sdp,
                "pai": msg.get_all("P-Asserted-Identity"),
            }
        )
