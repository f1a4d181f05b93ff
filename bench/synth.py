"""Synthetic rulesets at carrier scale, for the benchmarks.

``write_ruleset(dir, numbers=100_000, trunks=1_000, consents=1_000_000)`` writes
``rules.yaml`` and ``consents.csv`` into ``dir`` and returns a ``Synth`` describing what it
wrote, so a benchmark can build realistic calls against it.  Output is deterministic.
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
