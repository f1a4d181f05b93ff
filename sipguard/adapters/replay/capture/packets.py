"""From captured frames to SIP messages: link, IP, tunnels and transports put together.

Invariants:
- ``PacketDecoder.decode`` is called once per captured frame, in capture order, and
  returns every SIP message that frame completes (none, one, or several for TCP).
- SIP is recognised by content, never by port: a UDP datagram, SCTP user message or
  WebSocket message is SIP when it starts with a request or status line; a TCP stream is
  framed as SIP from its first start line on.
- Tunnels (GRE/ERSPAN, IP-in-IP) are followed at most ``_MAX_DEPTH`` levels deep.
- Scapy is not used here: fixed headers are decoded by offset for speed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.adapters.replay.capture.ip import IpDecoder
from sipguard.adapters.replay.capture.link import IPV4, IPV6, decode_link, gre
from sipguard.adapters.replay.capture.sctp import SctpDecoder
from sipguard.adapters.replay.capture.stream import START_LINE, SipStream
from sipguard.adapters.replay.capture.tcp import TcpReassembler

_UDP = 17
_TCP = 6
_SCTP = 132
_GRE = 47
_IPIP = 4
_IPV6_IN_IP = 41
_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One SIP message found in a capture, with where and when it was seen."""

    ts_ns: int
    src: str
    sport: int
    dst: str
    dport: int
    transport: str
    data: bytes


@dataclass(slots=True)
class DecodeStats:
    """Counts of what the decoder saw, for the run summary."""

    frames: int = 0
    not_ip: int = 0
    sip_messages: int = 0


class PacketDecoder:
    """Stateful decoder: fragments, TCP streams and SCTP messages span frames."""

    def __init__(self) -> None:
        self.ip = IpDecoder()
        self.tcp = TcpReassembler(lambda _key: SipStream())
        self.sctp = SctpDecoder()
        self.stats = DecodeStats()

    def decode(self, ts_ns: int, linktype: int, data: bytes) -> list[CapturedMessage]:
        """Every SIP message completed by one captured frame."""
        self.stats.frames += 1
        if (
            linktype == 1
            and data[12:14] == b"\x08\x00"
            and data[14:15] == b"\x45"
            and data[23:24] == b"\x11"
            and not (data[20] & 0x3F or data[21])
            and not 0x41 <= (data[42] if len(data) > 42 else 0) <= 0x5A
        ):
            return []  # fast path: Ethernet/IPv4/UDP, unfragmented, cannot start a SIP line
        frame = decode_link(linktype, data)
        if frame is None:
            self.stats.not_ip += 1
            return []
        out = self._ip(ts_ns, frame[0], frame[1], 0)
        self.stats.sip_messages += len(out)
        return out

    def _ip(self, ts_ns: int, ethertype: int, data: bytes, depth: int) -> list[CapturedMessage]:
        datagram = self.ip.feed(ethertype, data, ts_ns)
        if datagram is None:
            return []
        src, dst, proto, payload = datagram
        if proto == _UDP:
            return self._udp(ts_ns, src, dst, payload)
        if proto == _TCP:
            return self._tcp(ts_ns, src, dst, payload)
        if proto == _SCTP:
            return [
                CapturedMessage(ts_ns, src, sport, dst, dport, "sctp", message)
                for sport, dport, message in self.sctp.feed(src, dst, payload)
                if START_LINE.match(message)
            ]
        if depth >= _MAX_DEPTH:
            return []
        if proto == _GRE:
            inner = gre(payload)
            return self._ip(ts_ns, inner[0], inner[1], depth + 1) if inner else []
        if proto in (_IPIP, _IPV6_IN_IP):
            return self._ip(ts_ns, IPV4 if proto == _IPIP else IPV6, payload, depth + 1)
        return []

    @staticmethod
    def _udp(ts_ns: int, src: str, dst: str, payload: bytes) -> list[CapturedMessage]:
        if len(payload) < 8:
            return []
        length = (payload[4] << 8) | payload[5]
        body = payload[8:length] if 8 <= length <= len(payload) else payload[8:]
        if not body or not 0x41 <= body[0] <= 0x5A or START_LINE.match(body) is None:
            return []
        sport = (payload[0] << 8) | payload[1]
        dport = (payload[2] << 8) | payload[3]
        return [CapturedMessage(ts_ns, src, sport, dst, dport, "udp", body)]

    def _tcp(self, ts_ns: int, src: str, dst: str, segment: bytes) -> list[CapturedMessage]:
        result = self.tcp.feed(src, dst, segment)
        if result is None or not result[2]:
            return []
        key, consumer, messages = result
        transport = getattr(consumer, "transport", "tcp")
        return [
            CapturedMessage(ts_ns, key[0], key[1], key[2], key[3], transport, message)
            for message in messages
        ]
