"""Write the small synthetic captures in this folder, one per verdict reason and transport.

Run from the project root:  .venv/bin/python captures/generate.py

The calls target the example ruleset ``rules.yaml`` (trunk acme-sh-1 sends from 127.0.0.2,
beta-bj-1 from 127.0.0.3, the carrier network from 127.0.0.4).  ``rules-extra.yaml`` adds
an outbound-only number (for CALLEE_NOT_INBOUND) and an IPv6 network peer.
``EXPECTED.tsv`` lists, per capture, the reasons replay must give in order.
"""

from __future__ import annotations

import itertools
import struct
from datetime import UTC, datetime
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

HERE = Path(__file__).resolve().parent
ACME, BETA, NETWORK, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"
EDGE = "127.0.0.1"
# 2026-06-02 10:00 in Asia/Shanghai (02:00 UTC), a working Tuesday outside quiet hours.
MORNING = datetime(2026, 6, 2, 2, 0, tzinfo=UTC).timestamp()
EVENING = datetime(2026, 6, 2, 14, 0, tzinfo=UTC).timestamp()  # 22:00 local: quiet hours
LICENCE_GONE = datetime(2031, 1, 2, 2, 0, tzinfo=UTC).timestamp()  # acme's licence expired


def invite(
    n: int,
    caller: str,
    callee: str,
    *,
    src: str = ACME,
    pai: str | None = None,
    from_host: str = "example.com",
    extra: str = "",
    body: str = "",
    to_tag: str | None = None,
) -> bytes:
    """A minimal, valid initial INVITE (or a re-INVITE when ``to_tag`` is given)."""
    host = f"[{src}]" if ":" in src else src
    lines = [
        f"INVITE sip:{callee}@{EDGE} SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bK-gen-{n}",
        "Max-Forwards: 70",
        f"From: <sip:{caller}@{from_host}>;tag=f{n}",
        f"To: <sip:{callee}@{EDGE}>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: gen-{n}@{host}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:{caller}@{host}:5060>",
    ]
    if pai:
        lines.append(f"P-Asserted-Identity: <sip:{pai}@{from_host}>")
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def udp(message: bytes, src: str, at: float) -> Packet:
    """One SIP datagram from ``src`` to the edge, stamped ``at``."""
    if ":" in src:
        pkt = Ether() / IPv6(src=src, dst="::1") / UDP(sport=5060, dport=5060) / Raw(message)
    else:
        pkt = Ether() / IP(src=src, dst=EDGE) / UDP(sport=5060, dport=5060) / Raw(message)
    pkt.time = at
    return pkt


def calls(messages: list[bytes], src: str, start: float, step: float = 60.0) -> list[Packet]:
    """Datagrams one ``step`` apart."""
    return [udp(m, src, start + i * step) for i, m in enumerate(messages)]


def reason_captures() -> dict[str, tuple[list[Packet], list[str]]]:
    """Capture name -> (packets, expected reasons in order)."""
    consented = "13800138000"
    return {
        "unknown_source": (
            calls([invite(1, "4008001234", consented, src=STRANGER)], STRANGER, MORNING),
            ["UNKNOWN_SOURCE"],
        ),
        "caller_hidden": (
            calls(
                [invite(2, "anonymous", consented, from_host="anonymous.invalid")], ACME, MORNING
            ),
            ["CALLER_HIDDEN"],
        ),
        "number_length_changed": (
            calls([invite(3, "40080012345", consented)], ACME, MORNING),
            ["NUMBER_LENGTH_CHANGED"],
        ),
        "caller_unregistered": (
            calls([invite(4, "4001112222", consented)], ACME, MORNING),
            ["CALLER_UNREGISTERED"],
        ),
        "caller_not_on_trunk": (
            calls([invite(5, "4006601234", consented)], ACME, MORNING),
            ["CALLER_NOT_ON_TRUNK"],
        ),
        "identity_mismatch": (
            calls([invite(6, "02161234567", consented, pai="4008001234")], ACME, MORNING),
            ["IDENTITY_MISMATCH"],
        ),
        "licence_invalid": (
            calls([invite(7, "4008001234", consented)], ACME, LICENCE_GONE),
            ["LICENCE_INVALID"],
        ),
        "inbound_only": (calls([invite(8, "95123", consented)], ACME, MORNING), ["INBOUND_ONLY"]),
        "number_suspended": (
            calls([invite(90 + i, "4008001234", "13900000001") for i in range(6)], ACME, MORNING),
            ["NO_CONSENT"] * 5 + ["NUMBER_SUSPENDED"],
        ),
        "no_consent": (
            calls([invite(10, "4008001234", "13900000001")], ACME, MORNING),
            ["NO_CONSENT"],
        ),
        "quiet_hours": (
            calls([invite(11, "4008001234", consented)], ACME, EVENING),
            ["QUIET_HOURS"],
        ),
        "frequency_cap": (
            calls([invite(120 + i, "4008001234", consented) for i in range(3)], ACME, MORNING),
            ["ALLOWED", "ALLOWED", "FREQUENCY_CAP"],
        ),
        "callee_length_changed": (
            calls([invite(13, "13800138000", "951234", src=NETWORK)], NETWORK, MORNING),
            ["CALLEE_LENGTH_CHANGED"],
        ),
        "callee_unregistered": (
            calls([invite(14, "13800138000", "95555", src=NETWORK)], NETWORK, MORNING),
            ["CALLEE_UNREGISTERED"],
        ),
        "allowed_inbound": (
            calls([invite(15, "13800138000", "95123", src=NETWORK)], NETWORK, MORNING),
            ["ALLOWED"],
        ),
    }


def tcp_split() -> list[Packet]:
    """Two INVITEs on one TCP connection: split, retransmitted, reordered, coalesced."""
    one = invite(201, "13800138000", "95123", src=NETWORK)
    two = invite(202, "13800138000", "4006601234", src=NETWORK)
    three = invite(203, "13800138000", "95555", src=NETWORK)
    stream = one + two + three
    cut = [0, 40, 170, len(one) + 25, len(stream)]  # INVITE 2 and 3 share a segment
    base = 1000
    hdr = Ether() / IP(src=NETWORK, dst=EDGE)
    syn = hdr / TCP(sport=40000, dport=5060, flags="S", seq=base - 1)
    segments = [
        hdr / TCP(sport=40000, dport=5060, flags="PA", seq=base + a) / Raw(stream[a:b])
        for a, b in itertools.pairwise(cut)
    ]
    # wire order: SYN, seg0, seg2 (early), seg1, seg1 again (retransmission), seg3
    order = [syn, segments[0], segments[2], segments[1], segments[1], segments[3]]
    for i, pkt in enumerate(order):
        pkt.time = MORNING + i * 0.01
    return order


def ipv4_fragments() -> list[Packet]:
    """One INVITE with a large SDP body, sent as IPv4 fragments in reverse order."""
    sdp = "v=0\r\n" + "".join(f"a=x-pad:{i:04d}{'.' * 60}\r\n" for i in range(40))
    msg = invite(301, "13800138000", "95123", src=NETWORK, body=sdp)
    pkt = IP(src=NETWORK, dst=EDGE, id=777) / UDP(sport=5060, dport=5060) / Raw(msg)
    frags = [Ether() / f for f in fragment(pkt, fragsize=600)]
    frags.reverse()
    for i, f in enumerate(frags):
        f.time = MORNING + i * 0.001
    return frags


def ipv6_call() -> list[Packet]:
    """An inbound call over IPv6 (UNKNOWN_SOURCE for rules.yaml, ALLOWED for rules-extra)."""
    return [udp(invite(401, "13800138000", "95123", src="::4"), "::4", MORNING)]


def callee_not_inbound() -> list[Packet]:
    """An inbound call to rules-extra.yaml's outbound-only number."""
    return [udp(invite(501, "13800138000", "4008009999", src=NETWORK), NETWORK, MORNING)]


def call_rate_exceeded() -> list[Packet]:
    """Two calls of one number 10 s apart under rules-limits.yaml's 1 call a minute."""
    return calls(
        [invite(601 + i, "4008001234", "13800138000") for i in range(2)], ACME, MORNING, 10.0
    )


def mass_calling() -> list[Packet]:
    """Calls of one number to two callees under rules-limits.yaml's 1 callee an hour."""
    callees = ("13800138000", "13800138001")
    return calls(
        [invite(611 + i, "4008001234", c) for i, c in enumerate(callees)], ACME, MORNING, 120.0
    )


def message(kind: str, n: int, src: str, status: int = 0) -> bytes:
    """A BYE or CANCEL of call ``gen-n`` placed by ``src``, or a response ``status`` to it."""
    host = f"[{src}]" if ":" in src else src
    method = "INVITE" if status else kind
    start = f"SIP/2.0 {status} Busy Here" if status else f"{kind} sip:{EDGE} SIP/2.0"
    lines = [
        start,
        f"Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bK-end-{n}",
        "Max-Forwards: 70",
        f"From: <sip:caller@{host}>;tag=f{n}",
        f"To: <sip:callee@{EDGE}>;tag=t{n}",
        f"Call-ID: gen-{n}@{host}",
        f"CSeq: {1 if status or kind == 'CANCEL' else 2} {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def forwarded() -> list[Packet]:
    """Rules 1.1 section 3 on rules-extra.yaml (Acme forwards): a user's call to 95123 is
    forwarded while it is up, then again after its BYE, and with Beta's number; a second
    user's call ends with a 486 before its forward."""
    divert = "Diversion: <sip:95123@127.0.0.1>;reason=unconditional"
    user, other, agent = "13800138000", "13900139000", "13600136000"
    return [
        udp(invite(601, user, "95123", src=NETWORK), NETWORK, MORNING),
        udp(invite(602, user, agent, extra=divert), ACME, MORNING + 5),
        udp(message("BYE", 601, NETWORK), NETWORK, MORNING + 10),
        udp(invite(603, user, agent, extra=divert), ACME, MORNING + 12),
        udp(invite(604, user, agent, extra="Diversion: <sip:4006601234@x>"), ACME, MORNING + 13),
        udp(invite(605, other, "95123", src=NETWORK), NETWORK, MORNING + 14),
        udp(message("", 605, NETWORK, status=486), ACME, MORNING + 15),
        udp(invite(606, other, agent, extra=divert), ACME, MORNING + 16),
    ]


HOUR_NS = 3600 * 10**9
MORNING_NS = int(MORNING) * 10**9


def window_edge(inside: bool) -> list[tuple[int, bytes]]:
    """Five NO_CONSENT calls of 4008001234 whose oldest lies 1 ns inside the 1h window
    before the newest (``inside``), or exactly the window before it; then a sixth call."""
    last = MORNING_NS + HOUR_NS - (1 if inside else 0)
    # 999 ns past a microsecond: cut to microseconds, the inside case would look a full hour
    times = [MORNING_NS + 999, *(MORNING_NS + k * 10**12 for k in (1, 2, 3)), last + 999]
    times.append(last + 10**9)
    base = 700 if inside else 710
    return [(t, invite(base + i, "4008001234", "13100131000")) for i, t in enumerate(times)]


def _frame(message: bytes) -> bytes:
    return bytes(Ether() / IP(src=ACME, dst=EDGE) / UDP(sport=5060, dport=5060) / Raw(message))


def write_pcap_ns(path: Path, records: list[tuple[int, bytes]]) -> None:
    """A nanosecond pcap (magic a1b23c4d), timestamps written as exact integers."""
    out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)]
    for ts, message in records:
        data = _frame(message)
        out.append(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(data), len(data)) + data)
    path.write_bytes(b"".join(out))


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    size = len(body) + 12
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)


def write_pcapng_ns(path: Path, records: list[tuple[int, bytes]]) -> None:
    """A pcapng file whose one interface has ``if_tsresol`` 9 (nanosecond timestamps)."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + b"\0" * 4)
    options = struct.pack("<HHB", 9, 1, 9) + b"\0" * 3 + b"\0" * 4  # if_tsresol, opt_endofopt
    idb = _block(1, struct.pack("<HHI", 1, 0, 65535) + options)
    out = [shb, idb]
    for ts, message in records:
        data = _frame(message)
        head = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
        out.append(_block(6, head + data))
    path.write_bytes(b"".join(out))


def main() -> None:
    """Write every capture and EXPECTED.tsv."""
    expected: list[str] = ["capture\trules\treasons"]
    for name, (packets, reasons) in reason_captures().items():
        wrpcap(str(HERE / f"{name}.pcap"), packets)
        expected.append(f"{name}.pcap\trules.yaml\t{','.join(reasons)}")
    extra = {
        "tcp_split.pcap": (tcp_split(), "rules.yaml", "ALLOWED,ALLOWED,CALLEE_UNREGISTERED"),
        "ipv4_fragments.pcap": (ipv4_fragments(), "rules.yaml", "ALLOWED"),
        "ipv6.pcap": (ipv6_call(), "rules.yaml", "UNKNOWN_SOURCE"),
        "callee_not_inbound.pcap": (callee_not_inbound(), "rules-extra.yaml", "CALLEE_NOT_INBOUND"),
        "call_rate_exceeded.pcap": (
            call_rate_exceeded(),
            "rules-limits.yaml",
            "ALLOWED,CALL_RATE_EXCEEDED",
        ),
        "mass_calling.pcap": (mass_calling(), "rules-limits.yaml", "ALLOWED,MASS_CALLING"),
        "forwarded.pcap": (
            forwarded(),
            "rules-extra.yaml",
            "ALLOWED,ALLOWED,FORWARD_UNVERIFIED,FORWARD_UNVERIFIED,ALLOWED,FORWARD_UNVERIFIED",
        ),
    }
    for name, (packets, rules, reasons) in extra.items():
        wrpcap(str(HERE / name), packets)
        expected.append(f"{name}\t{rules}\t{reasons}")
    expected.append("ipv6.pcap\trules-extra.yaml\tALLOWED")
    edge = {True: "NO_CONSENT," * 5 + "NUMBER_SUSPENDED", False: "NO_CONSENT," * 5 + "NO_CONSENT"}
    for inside, tag in ((True, "inside"), (False, "edge")):
        for writer, ext in ((write_pcap_ns, "pcap"), (write_pcapng_ns, "pcapng")):
            name = f"window_{tag}_ns.{ext}"
            writer(HERE / name, window_edge(inside))
            expected.append(f"{name}\trules.yaml\t{edge[inside]}")
    (HERE / "EXPECTED.tsv").write_text("\n".join(expected) + "\n")


if __name__ == "__main__":
    main()
