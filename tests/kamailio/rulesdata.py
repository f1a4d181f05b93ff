"""Rules and consents files for the Kamailio tests, written fresh into a temporary folder.

Peers are loopback addresses: 127.0.0.2 Acme's trunk, 127.0.0.3 Beta's, 127.0.0.5 Gamma's
(licence expired), 127.0.0.4 the carrier network.  Quiet hours are empty unless asked for,
so the verdicts do not depend on the time of day the tests run.
"""

from __future__ import annotations

from pathlib import Path

RULES = """\
version: 1
country_code: "86"
national_prefix: "0"
timezone: "Asia/Shanghai"
operators:
  acme: {{name: Acme, licence: B2-1, licence_expires: 2099-12-31,
          harassment_pledge: true, outbound_commitment: true}}
  beta: {{name: Beta, licence: B2-2, licence_expires: 2099-12-31,
          harassment_pledge: true, outbound_commitment: false}}
  gamma: {{name: Gamma, licence: B2-3, licence_expires: 2020-01-01,
           harassment_pledge: true, outbound_commitment: true}}
trunks:
  acme-sh-1: {{operator: acme, peers: ["127.0.0.2"], deliver_to: "sip:127.0.0.2:{port}",
              forwarding: true}}
  beta-bj-1: {{operator: beta, peers: ["127.0.0.3/32"], deliver_to: "sip:127.0.0.3:{port}"}}
  gamma-gz-1: {{operator: gamma, peers: ["127.0.0.5"], deliver_to: "sip:127.0.0.5:{port}"}}
network:
  peers: ["127.0.0.4"]
  deliver_to: "sip:127.0.0.4:{port}"
numbers:
  - {{number: "95123", operator: acme, trunk: acme-sh-1, inbound: true, outbound: false}}
  - {{number: "4008001234", operator: acme, trunk: acme-sh-1, inbound: true, outbound: true}}
  - {{number: "4008005678", operator: acme, trunk: acme-sh-1, inbound: false, outbound: true,
     display_name: "Acme Care"}}
  - {{number: "4006601234", operator: beta, trunk: beta-bj-1, inbound: true, outbound: false}}
  - {{number: "4001112222", operator: gamma, trunk: gamma-gz-1, inbound: true, outbound: true}}
outbound:
  require_consent: true
  quiet_hours: {quiet}
  max_calls_per_callee_per_day: {cap}
  suspend_after_violations: 5
  violation_window: "1h"
consents:
  file: consents.csv
journal:
  path: journal.db
  retention_days: 30
"""

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
    quiet_text = "[" + ", ".join(f'"{q}"' for q in quiet) + "]"
    rules.write_text(RULES.format(port=port, quiet=quiet_text, cap=cap), encoding="utf-8")
    (folder / "consents.csv").write_text(CONSENTS, encoding="utf-8")
    return rules
