"""Rules and consents files for the Kamailio tests, written fresh into a temporary folder.

Peers are loopback addresses: 127.0.0.2 Acme's trunk, 127.0.0.3 Beta's, 127.0.0.5 Gamma's
(licence expired), 127.0.0.4 the carrier network.  Quiet hours are empty unless asked for,
so the verdicts do not depend on the time of day the tests run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.rulesets import Number, Operator, Outbound, RulesFile, Trunk, loopback

GAMMA = Operator("gamma", "Gamma", "B2-3", "2020-01-01", outbound_commitment=True)  # expired
# An outbound-only number with a filed display name, and one of Gamma's.
DISPLAYED = Number("4008005678", "acme", "acme-sh-1", inbound=False, outbound=True,
                   display_name="Acme Care")  # fmt: skip
GAMMA_NUMBER = Number("4001112222", "gamma", "gamma-gz-1", inbound=True, outbound=True)


def rules_file(port: int, quiet: tuple[str, ...], cap: int) -> RulesFile:
    """The loopback rules with Gamma beside Acme and Beta, and Acme's forwarded calls on."""
    base = loopback(
        acme=("127.0.0.2", f"sip:127.0.0.2:{port}"),
        network=("127.0.0.4", f"sip:127.0.0.4:{port}"),
        beta=("127.0.0.3/32", f"sip:127.0.0.3:{port}"),
    )
    acme, beta = base.trunks
    gamma = Trunk("gamma-gz-1", "gamma", ("127.0.0.5",), f"sip:127.0.0.5:{port}")
    return replace(
        base,
        operators=(*base.operators, GAMMA),
        trunks=(replace(acme, forwarding=True), beta, gamma),
        numbers=(*base.numbers[:2], DISPLAYED, *base.numbers[2:], GAMMA_NUMBER),
        outbound=Outbound(quiet, cap, 5, "1h"),
    )


CONSENTS = """\
callee,number,credential,granted_at,expires_at
13800138000,4008001234,C-1,2000-01-01T00:00:00,2100-01-01T00:00:00
13900139000,4008001234,C-2,2000-01-01T00:00:00,2100-01-01T00:00:00
13600136000,4008001234,C-3,2000-01-01T00:00:00,2100-01-01T00:00:00
13700137000,4008005678,C-4,2000-01-01T00:00:00,2100-01-01T00:00:00
13500135000,4001112222,C-5,2000-01-01T00:00:00,2100-01-01T00:00:00
"""


def write_rules(
    folder: Path, *, port: int = 5270, quiet: tuple[str, ...] = (), cap: int = 2
) -> Path:
    """Write rules.yaml and consents.csv into ``folder``; return the rules path."""
    folder.mkdir(parents=True, exist_ok=True)
    rules = folder / "rules.yaml"
    rules.write_text(rules_file(port, quiet, cap).text(), encoding="utf-8")
    (folder / "consents.csv").write_text(CONSENTS, encoding="utf-8")
    return rules
