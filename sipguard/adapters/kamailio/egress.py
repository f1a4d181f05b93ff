"""The identity an allowed outbound call carries on through Kamailio (rules 1.1 section 1).

Invariants:
- Every identity header and Privacy the call center sent (``STRIPPED``) is removed; the one
  ``P-Asserted-Identity`` added is ``<tel:+CC NSN>`` of the verified caller (RFC 3325).
- The From header is rewritten through Kamailio's ``uac`` module (``uac_replace_from``,
  loaded by the generated configuration with ``restore_mode`` "auto", so the caller's side
  of the dialog keeps its original From): its user is ``+CC NSN`` of the verified caller,
  its host stays, and its display name is the filed number's ``display_name`` or none at
  all.  The trunk's own display name never passes on.
- PAI and From carry the same display name.  A verified forward asserts the user's number,
  with no display name; its Diversion and History-Info stay.
- No I/O of its own: ``rewrite`` only calls Kamailio's ``KSR.hdr`` and ``KSR.uac``.
"""

from __future__ import annotations

from sipguard.adapters.kamailio.ksr import Ksr
from sipguard.policy import Ruleset
from sipguard.policy.facts import Verdict

STRIPPED = ("P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID", "Privacy")


def display_name(verdict: Verdict, rules: Ruleset) -> str:
    """The quoted display name an allowed outbound call carries ('' for none)."""
    own = verdict.number if not verdict.forwarded else None
    filed = rules.numbers.get(own) if own else None
    if filed is None or not filed.display_name:
        return ""
    quoted = filed.display_name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}"'


def asserted_identity(verdict: Verdict, rules: Ruleset) -> str:
    """The ``P-Asserted-Identity`` header line (CRLF included) of an allowed outbound call."""
    shown = display_name(verdict, rules)
    shown = f"{shown} " if shown else ""
    return f"P-Asserted-Identity: {shown}<tel:+{rules.country_code}{verdict.caller}>\r\n"


def from_uri(verdict: Verdict, rules: Ruleset, host: str | None) -> str:
    """The egress From URI: ``sip:+CC NSN@HOST`` (``user=phone``-free, host as sent)."""
    where = host or "invalid"
    bracketed = f"[{where}]" if ":" in where and not where.startswith("[") else where
    return f"sip:+{rules.country_code}{verdict.caller}@{bracketed}"


def rewrite(ksr: Ksr, verdict: Verdict, rules: Ruleset, from_host: str | None = None) -> None:
    """Strip ``STRIPPED``, add the asserted identity and rewrite From (``KSR.uac``)."""
    hdr = ksr.hdr
    for name in STRIPPED:
        hdr.remove(name)
    hdr.append(asserted_identity(verdict, rules))
    ksr.uac.uac_replace_from(display_name(verdict, rules), from_uri(verdict, rules, from_host))
