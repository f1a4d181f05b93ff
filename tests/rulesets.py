"""The one rules file of the tests: every suite writes it from here, for its own addresses.

``RulesFile`` holds what differs between suites (operators, trunks and their peers, the
network, the filed numbers, the outbound limits); ``text()`` writes it in one layout:
block mappings, and one flow mapping per filed number.  Tests edit the written text by
plain replacement, so that layout is part of the contract.

``POLICY`` is the ruleset of the policy unit tests, on documentation addresses; golden
messages in tests/policy/test_load.py quote its line numbers.  ``loopback`` is the one a
running server or Kamailio uses: Acme and Beta trunks on loopback peers, the carrier
network beside them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Operator:
    id: str
    name: str
    licence: str
    licence_expires: str
    outbound_commitment: bool
    harassment_pledge: bool = True


@dataclass(frozen=True, slots=True)
class Trunk:
    id: str
    operator: str
    peers: tuple[str, ...]
    deliver_to: str
    forwarding: bool = False


@dataclass(frozen=True, slots=True)
class Number:
    number: str
    operator: str
    trunk: str
    inbound: bool
    outbound: bool
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    quiet_hours: tuple[str, ...] = ()
    max_calls_per_callee_per_day: int = 2
    suspend_after_violations: int | None = 3
    violation_window: str | None = "1h"


@dataclass(frozen=True, slots=True)
class RulesFile:
    operators: tuple[Operator, ...]
    trunks: tuple[Trunk, ...]
    network_peers: tuple[str, ...]
    network_deliver_to: str
    numbers: tuple[Number, ...]
    outbound: Outbound = Outbound()
    listen: tuple[str, ...] = ()

    def text(self) -> str:
        """The rules file, in the layout the tests edit."""
        lines = [
            "version: 1", 'country_code: "86"', 'national_prefix: "0"',
            'timezone: "Asia/Shanghai"', "operators:",
        ]  # fmt: skip
        for op in self.operators:
            lines += _operator(op)
        lines.append("trunks:")
        for trunk in self.trunks:
            lines += _trunk(trunk)
        lines += ["network:", f"  peers: {_list(self.network_peers)}"]
        lines += [f'  deliver_to: "{self.network_deliver_to}"', "numbers:"]
        lines += [_number(n) for n in self.numbers]
        lines += _outbound(self.outbound)
        lines += ["consents:", "  file: consents.csv"]
        lines += ["journal:", "  path: journal.db", "  retention_days: 30"]
        if self.listen:
            lines.append(f"listen: {_list(self.listen)}")
        return "\n".join(lines) + "\n"


_YAML_BOOL = {True: "true", False: "false"}


def _list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def _operator(op: Operator) -> list[str]:
    return [
        f"  {op.id}:", f'    name: "{op.name}"', f'    licence: "{op.licence}"',
        f"    licence_expires: {op.licence_expires}",
        f"    harassment_pledge: {_YAML_BOOL[op.harassment_pledge]}",
        f"    outbound_commitment: {_YAML_BOOL[op.outbound_commitment]}",
    ]  # fmt: skip


def _trunk(trunk: Trunk) -> list[str]:
    lines = [f"  {trunk.id}:", f"    operator: {trunk.operator}"]
    lines += [f"    peers: {_list(trunk.peers)}", f'    deliver_to: "{trunk.deliver_to}"']
    return lines + (["    forwarding: true"] if trunk.forwarding else [])


def _number(n: Number) -> str:
    text = f'  - {{number: "{n.number}", operator: {n.operator}, trunk: {n.trunk}, '
    text += f"inbound: {_YAML_BOOL[n.inbound]}, outbound: {_YAML_BOOL[n.outbound]}"
    if n.display_name is not None:
        text += f', display_name: "{n.display_name}"'
    return text + "}"


def _outbound(out: Outbound) -> list[str]:
    lines = ["outbound:", "  require_consent: true", f"  quiet_hours: {_list(out.quiet_hours)}"]
    lines.append(f"  max_calls_per_callee_per_day: {out.max_calls_per_callee_per_day}")
    if out.suspend_after_violations is not None:
        lines.append(f"  suspend_after_violations: {out.suspend_after_violations}")
    if out.violation_window is not None:
        lines.append(f'  violation_window: "{out.violation_window}"')
    return lines


POLICY = RulesFile(
    operators=(
        Operator("acme", "Acme", "B2-1", "2027-12-31", outbound_commitment=True),
        Operator("beta", "Beta", "B2-2", "2027-12-31", outbound_commitment=True),
    ),
    trunks=(
        Trunk("acme-1", "acme", ("192.0.2.10", "198.51.100.0/28", "2001:db8:a::/48"),
              "sip:192.0.2.10:5060"),
        Trunk("beta-1", "beta", ("192.0.2.20",), "sip:192.0.2.20:5070;transport=tcp"),
    ),
    network_peers=("203.0.113.0/24", "2001:db8:f::1"),
    network_deliver_to="sip:203.0.113.5:5060",
    numbers=(
        Number("95123", "acme", "acme-1", inbound=True, outbound=False),
        Number("4008001234", "acme", "acme-1", inbound=True, outbound=True),
        Number("020-6123-4567", "beta", "beta-1", inbound=False, outbound=True),
    ),
    outbound=Outbound(quiet_hours=("21:00-08:00", "12:00-13:30")),
)  # fmt: skip

# The loopback operators: Beta has no outbound commitment, so its numbers are inbound only.
ACME = Operator("acme", "Acme Customer Care Co., Ltd.", "B2-20190001", "2099-12-31",
                outbound_commitment=True)  # fmt: skip
BETA = Operator("beta", "Beta Travel Service Center", "B2-20210042", "2099-06-30",
                outbound_commitment=False)  # fmt: skip
# Access numbers of the loopback layout.
INBOUND_ONLY = Number("95123", "acme", "acme-sh-1", inbound=True, outbound=False)
BOTH_WAYS = Number("4008001234", "acme", "acme-sh-1", inbound=True, outbound=True)
BETA_INBOUND = Number("4006601234", "beta", "beta-bj-1", inbound=True, outbound=False)


def loopback(
    acme: tuple[str, str], network: tuple[str, str], beta: tuple[str, str] | None = None
) -> RulesFile:
    """Acme's trunk (and Beta's) and the carrier network, each ``(peer, deliver_to)``.

    Beta and its number are there only when ``beta`` is given.  Limits are off (very high)
    and quiet hours empty, so verdicts do not depend on the time of day a test runs.
    """
    trunks = [Trunk("acme-sh-1", "acme", (acme[0],), acme[1])]
    numbers = [INBOUND_ONLY, BOTH_WAYS]
    if beta is not None:
        trunks.append(Trunk("beta-bj-1", "beta", (beta[0],), beta[1]))
        numbers.append(BETA_INBOUND)
    return RulesFile(
        operators=(ACME, BETA) if beta is not None else (ACME,),
        trunks=tuple(trunks),
        network_peers=(network[0],),
        network_deliver_to=network[1],
        numbers=tuple(numbers),
        outbound=Outbound((), 100000, 100000, "1h"),
    )
