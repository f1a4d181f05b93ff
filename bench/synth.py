"""Synthetic rulesets at carrier scale, for the benchmarks.

``write_ruleset(dir, numbers=100_000, trunks=1_000, consents=1_000_000)`` writes
``rules.yaml`` and ``consents.csv`` into ``dir`` and returns a ``Synth`` describing what it
wrote, so a benchmark can build realistic calls against it; ``workload(synth, n)`` builds
``n`` such INVITEs.  Output is deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

OPERATORS_PER_1000_TRUNKS = 100


@dataclass(frozen=True)
class Synth:
    rules: Path
    outbound_numbers: list[str]
    inbound_numbers: list[str]
    consented: list[tuple[str, str]]  # (number, callee) pairs with a valid consent
    trunk_peers: dict[str, str]  # trunk id -> peer address
    number_trunk: dict[str, str]
    network_peer: str


def _trunk_peer(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def write_ruleset(
    out: Path, numbers: int = 100_000, trunks: int = 1_000, consents: int = 1_000_000
) -> Synth:
    """Write a valid ruleset of the given size into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261128)
    n_ops = max(1, trunks * OPERATORS_PER_1000_TRUNKS // 1000)
    lines = [
        "version: 1",
        'country_code: "86"',
        'national_prefix: "0"',
        'timezone: "Asia/Shanghai"',
        "operators:",
    ]
    for o in range(n_ops):
        lines += [
            f"  op{o}:",
            f'    name: "Operator {o}"',
            f'    licence: "B2-{20200000 + o}"',
            "    licence_expires: 2030-12-31",
            "    harassment_pledge: true",
            "    outbound_commitment: true",
        ]
    lines.append("trunks:")
    trunk_peers: dict[str, str] = {}
    for t in range(trunks):
        peer = _trunk_peer(t)
        trunk_peers[f"t{t}"] = peer
        lines += [
            f"  t{t}:",
            f"    operator: op{t % n_ops}",
            f'    peers: ["{peer}"]',
            f'    deliver_to: "sip:{peer}:5070"',
        ]
    lines += ["network:", '  peers: ["127.0.0.4"]', '  deliver_to: "sip:127.0.0.4:5070"']
    lines.append("numbers:")
    outbound: list[str] = []
    inbound: list[str] = []
    number_trunk: dict[str, str] = {}
    for i in range(numbers):
        number = str(4000000000 + i * 7)  # 10-digit 400 numbers, none a prefix of another
        t = i % trunks
        is_out = i % 2 == 0
        (outbound if is_out else inbound).append(number)
        number_trunk[number] = f"t{t}"
        lines += [
            f'  - number: "{number}"',
            f"    operator: op{t % n_ops}",
            f"    trunk: t{t}",
            "    inbound: true",
            f"    outbound: {'true' if is_out else 'false'}",
        ]
    lines += [
        "outbound:",
        "  require_consent: true",
        '  quiet_hours: ["21:00-08:00", "12:00-13:30"]',
        "  max_calls_per_callee_per_day: 1000000",
        "  suspend_after_violations: 1000000",
        '  violation_window: "1h"',
        "consents:",
        "  file: consents.csv",
        "journal:",
        "  path: journal.db",
        "  retention_days: 30",
    ]
    (out / "rules.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    consented = _write_consents(out / "consents.csv", outbound, consents, rng)
    return Synth(
        out / "rules.yaml", outbound, inbound, consented, trunk_peers, number_trunk, "127.0.0.4"
    )


def _write_consents(
    path: Path, outbound: list[str], rows: int, rng: random.Random
) -> list[tuple[str, str]]:
    sample: list[tuple[str, str]] = []
    with path.open("w", encoding="utf-8") as f:
        f.write("callee,number,credential,granted_at,expires_at\n")
        for i in range(rows):
            number = outbound[i % len(outbound)]
            callee = str(13000000000 + rng.randrange(900_000_000))
            f.write(f"{callee},{number},C{i:09d},2026-01-01T00:00:00,2028-01-01T00:00:00\n")
            if i % 97 == 0 and len(sample) < 10_000:
                sample.append((number, callee))
    return sample


SDP = (
    "v=0\r\no=- 2890844526 2890844526 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)


def invite_bytes(i: int, caller: str, callee: str, ip: str) -> bytes:
    """A realistic INVITE as a call-center PBX sends it (about 1 KB with SDP)."""
    body = SDP.format(ip=ip)
    head = (
        f"INVITE sip:{callee}@127.0.0.1:5060;user=phone SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{i:012x}-1;rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Customer Care" <sip:{caller}@{ip};user=phone>;tag=f{i:08x}\r\n'
        f"To: <sip:{callee}@127.0.0.1;user=phone>\r\n"
        f"Call-ID: {i:016x}@{ip}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:{caller}@{ip}:5060;transport=udp>\r\n"
        f"P-Asserted-Identity: <tel:+86{caller}>\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO\r\n"
        "Supported: 100rel, timer, replaces\r\n"
        "Session-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\n"
        "User-Agent: CallCenter-PBX/8.1\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return (head + body).encode()


def workload(s: Synth, n: int) -> list[tuple[bytes, str]]:
    """``n`` INVITEs: mostly consented outbound calls, plus inbound calls and rejections."""
    calls: list[tuple[bytes, str]] = []
    for i in range(n):
        kind = i % 10
        if kind < 6:  # allowed outbound return visit
            number, callee = s.consented[i % len(s.consented)]
            ip = s.trunk_peers[s.number_trunk[number]]
        elif kind < 8:  # inbound call from the network to a filed number
            number, callee = f"139{i:08d}"[:11], s.inbound_numbers[i % len(s.inbound_numbers)]
            ip = s.network_peer
        elif kind == 8:  # outbound call with no consent on file
            number = s.outbound_numbers[i % len(s.outbound_numbers)]
            callee, ip = f"186{i:08d}"[:11], s.trunk_peers[s.number_trunk[number]]
        else:  # an extension appended to a filed number
            number = s.outbound_numbers[i % len(s.outbound_numbers)] + "01"
            callee, ip = "13800138000", s.trunk_peers["t0"]
        calls.append((invite_bytes(i, number, callee, ip), ip))
    return calls
