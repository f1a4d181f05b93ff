"""The identity an allowed outbound call carries on through Kamailio (rules 1.1 section 1).

Invariants:
- Every identity header and Privacy the call center sent (``STRIPPED``) is removed; the one
  ``P-Asserted-Identity`` added is ``<tel:+CC NSN>`` of the verified caller (RFC 3325).
- It carries the filed number's ``display_name`` or no display name at all.  A verified
  forward asserts the user's number, with no display name; its Diversion and History-Info
  stay.
- No I/O of its own: ``rewrite`` only calls Kamailio's ``KSR.hdr``.
"""

from __future__ import annotations

from typing import Any

from sipguard.policy import Ruleset
from sipguard.policy.facts import Verdict

STRIPPED = ("P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID", "Privacy")


def asserted_identity(verdict: Verdict, rules: Ruleset) -> str:
    """The ``P-Asserted-Identity`` header line (CRLF included) of an allowed outbound call."""
    own = verdict.number if not verdict.forwarded else None
    filed = rules.numbers.get(own) if own else None
    shown = f'"{filed.display_name}" ' if filed and filed.display_name else ""
    return f"P-Asserted-Identity: {shown}<tel:+{rules.country_code}{verdict.caller}>\r\n"


def rewrite(hdr: Any, verdict: Verdict, rules: Ruleset) -> None:
    """Remove ``STRIPPED`` and add the asserted identity, through Kamailio's ``KSR.hdr``."""
    for name in STRIPPED:
        hdr.remove(name)
    hdr.append(asserted_identity(verdict, rules))
