"""Capture formats, link layers, tunnels and transports decode to the same SIP message."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import GRE, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Raw

from sipguard.adapters.replay.capture import CaptureReader, PacketDecoder
from sipguard.adapters.replay.capture.websocket import WebSocketDecoder

SIP = (
    b"INVITE sip:95123@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.4;branch=z9hG4bKx\r\n"
    b"From: <sip:1@x>;tag=a\r\nTo: <sip:95123@x>\r\nCall-ID: c@x\r\nCSeq: 1 INVITE\r\n"
    b"Content-Length: 4\r\n\r\nbody"
)


def messages(frames: list[tuple[int, bytes]]) -> list[bytes]:
    decoder = PacketDecoder()
    return [m.data for i, (lt, f) in enumerate(frames) for m in decoder.decode(i, lt, f)]


def udp4() -> IP:
    return IP(src="127.0.0.4", dst="127.0.0.1") / UDP(sport=5060, dport=5060) / Raw(SIP)


def test_vlan_qinq_and_cooked_links() -> None:
    """Ethernet with QinQ tags, SLL, SLL2, raw IP and BSD null all reach the SIP message."""
    ip = bytes(udp4())
    eth_qinq = bytes(Ether(type=0x88A8) / Dot1Q(vlan=10, type=0x8100) / Dot1Q(vlan=20) / udp4())
    sll = bytes(16)[:14] + b"\x08\x00" + ip
    sll2 = b"\x08\x00" + bytes(18) + ip
    null = struct.pack("<I", 2) + ip
    frames = [(1, eth_qinq), (113, sll), (276, sll2), (101, ip), (0, null), (228, ip)]
    assert messages(frames) == [SIP] * 6


@pytest.mark.parametrize("erspan", ["gre-ip", "type1", "type2", "type3", "type3-subheader"])
def test_gre_and_erspan(erspan: str) -> None:
    """GRE carrying IP, and ERSPAN types I, II and III, are unwrapped to the inner call."""
    inner = bytes(Ether() / udp4())
    outer = IP(src="10.0.0.1", dst="10.0.0.2")
    if erspan == "gre-ip":
        pkt = bytes(Ether() / outer / GRE(proto=0x0800) / udp4())
    elif erspan == "type1":
        pkt = bytes(Ether() / outer / GRE(proto=0x88BE) / Raw(inner))
    elif erspan == "type2":
        pkt = bytes(
            Ether()
            / outer
            / GRE(proto=0x88BE, seqnum_present=1, sequence_number=5)
            / Raw(bytes(8) + inner)
        )
    else:
        sub = erspan == "type3-subheader"
        header = bytes(11) + (b"\x01" if sub else b"\x00") + (bytes(8) if sub else b"")
        pkt = bytes(
            Ether()
            / outer
            / GRE(proto=0x22EB, seqnum_present=1, sequence_number=5)
            / Raw(header + inner)
        )
    assert messages([(1, pkt)]) == [SIP]


def test_ipv4_and_ipv6_fragments_with_extension_headers() -> None:
    """Out-of-order IPv4 fragments and IPv6 fragments behind a dest-options header rejoin."""
    v4 = [bytes(Ether() / f) for f in fragment(udp4(), fragsize=64)][::-1]
    v6 = IPv6(src="::4", dst="::1") / IPv6ExtHdrDestOpt() / UDP(sport=5060, dport=5060) / Raw(SIP)
    whole = bytes(v6[IPv6ExtHdrDestOpt])  # dest options + UDP + SIP, to be fragmented
    header = bytes(IPv6(src="::4", dst="::1", nh=44))[:40]
    parts = []
    for off in range(0, len(whole), 96):
        chunk = whole[off : off + 96]
        more = off + 96 < len(whole)
        frag = bytes(IPv6ExtHdrFragment(nh=60, offset=off // 8, m=int(more), id=9))
        body = frag + chunk
        parts.append(header[:4] + struct.pack("!H", len(body)) + header[6:] + body)
    frames = [(1, f) for f in v4] + [(101, p) for p in parts[::-1]]
    assert messages(frames) == [SIP, SIP]


def test_tcp_overlap_and_reorder() -> None:
    """Overlapping, reordered and duplicated TCP segments give each message exactly once."""
    stream = SIP + SIP.replace(b"c@x", b"d@x")
    hdr = Ether() / IP(src="127.0.0.4", dst="127.0.0.1")
    seg = [(0, 100), (90, 250), (200, len(stream)), (0, 50)]
    pkts = [
        bytes(hdr / TCP(sport=1, dport=2, seq=5000 + a, flags="PA") / Raw(stream[a:b]))
        for a, b in seg
    ]
    got = messages([(1, pkts[0]), (1, pkts[2]), (1, pkts[1]), (1, pkts[3])])
    assert got == [SIP, SIP.replace(b"c@x", b"d@x")]


def test_websocket_masked_frames_after_upgrade() -> None:
    """A masked, fragmented WebSocket message after an HTTP upgrade is one SIP message."""
    key = b"\x01\x02\x03\x04"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(SIP))
    half = len(SIP) // 2
    first = bytes([0x01, 0x80 | 126]) + struct.pack("!H", half) + key + masked[:half]
    rest = bytes(b ^ key[i % 4] for i, b in enumerate(SIP[half:]))
    second = bytes([0x80, 0x80 | 126]) + struct.pack("!H", len(SIP) - half) + key + rest
    ping = bytes([0x89, 0x00])
    upgrade = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    stream = upgrade + first + ping + second
    hdr = Ether() / IP(src="127.0.0.4", dst="127.0.0.1")
    syn = bytes(hdr / TCP(sport=1, dport=80, seq=99, flags="S"))
    data = bytes(hdr / TCP(sport=1, dport=80, seq=100, flags="PA") / Raw(stream))
    decoder = PacketDecoder()
    out = [m for f in (syn, data) for m in decoder.decode(0, 1, f)]
    assert [(m.transport, m.data) for m in out] == [("ws", SIP)]
    assert WebSocketDecoder().feed(bytes([0x81, len(b"hi")]) + b"hi") == [b"hi"]


def test_sctp_data_chunks() -> None:
    """An SCTP DATA chunk, and one split into B/E fragments, each give the SIP message."""
    ip = IP(src="127.0.0.4", dst="127.0.0.1")
    whole = bytes(
        Ether()
        / ip
        / SCTP(sport=5060, dport=5060)
        / SCTPChunkData(tsn=1, beginning=1, ending=1, data=SIP)
    )
    first = SCTPChunkData(tsn=2, beginning=1, ending=0, data=SIP[:50])
    last = SCTPChunkData(tsn=3, beginning=0, ending=1, data=SIP[50:])
    split = bytes(Ether() / ip / SCTP(sport=5060, dport=5060) / first / last)
    assert messages([(1, whole), (1, split), (1, whole)]) == [SIP, SIP]


def write_pcapng(path: Path) -> None:
    """Two interfaces: microseconds (default) and nanoseconds (if_tsresol = 9)."""

    def block(kind: int, body: bytes) -> bytes:
        size = 12 + len(body)
        return struct.pack("<II", kind, size) + body + struct.pack("<I", size)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb_us = block(1, struct.pack("<HHI", 1, 0, 65535))
    idb_ns = block(
        1,
        struct.pack("<HHI", 1, 0, 65535)
        + struct.pack("<HHB3x", 9, 1, 9)
        + struct.pack("<HH", 0, 0),
    )
    frame = bytes(Ether() / udp4())
    pad = frame + bytes(-len(frame) % 4)

    def epb(iface: int, ticks: int) -> bytes:
        return block(
            6,
            struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
            + pad,
        )

    path.write_bytes(
        shb + idb_us + idb_ns + epb(0, 1_700_000_000_000_000) + epb(1, 1_700_000_001_000_000_000)
    )


def test_pcapng_per_interface_resolution_and_gzip(tmp_path: Path) -> None:
    """pcapng timestamps follow each interface's if_tsresol, also when gzip-compressed."""
    path = tmp_path / "two.pcapng"
    write_pcapng(path)
    zipped = tmp_path / "two.pcapng.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    for p in (path, zipped):
        with CaptureReader(p) as reader:
            stamps = [ts for ts, _, _ in reader]
        assert stamps == [1_700_000_000_000_000_000, 1_700_000_001_000_000_000]


@pytest.mark.parametrize(("endian", "nano"), [("<", False), (">", False), ("<", True), (">", True)])
def test_classic_pcap_byte_orders_and_precisions(
    tmp_path: Path, endian: str, *, nano: bool
) -> None:
    """Classic pcap in both byte orders, micro- and nanosecond, gives the same timestamps."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    frame = bytes(Ether() / udp4())
    frac = 123_456_789 if nano else 123_456
    path = tmp_path / "x.pcap"
    path.write_bytes(
        struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
        + struct.pack(endian + "IIII", 1_700_000_000, frac, len(frame), len(frame))
        + frame
    )
    with CaptureReader(path) as reader:
        ((ts, linktype, data),) = list(reader)
    assert ts == 1_700_000_000_000_000_000 + (frac if nano else frac * 1000)
    assert (linktype, data) == (1, frame)
