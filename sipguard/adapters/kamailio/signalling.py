"""What the plugin's messages carry: the header allow-list and the refusal's status line.

Invariants:
- Kamailio proxies the message it received, so the headers routing, identity and framing
  need (``policy.signalling.MANAGED``) stay; so does the rules' allow-list (the
  call-control headers plus ``sip.relay_headers``).  Every other header is removed
  through ``KSR.hdr.remove``: on the INVITE towards the callee, on in-dialog requests,
  and on the replies to both (tm reply route), so neither side sees the other's
  ``User-Agent`` or ``Server``.
- Names are read from the received buffer (``$mb``; folded lines are continuations) and
  compared by lookup key (``canonical``), so a compact form matches its full name.
- A refusal answers ``status`` with ``Reason: SIP;cause=NNN;text="REASON"`` (RFC 3326);
  its phrase is the standard one, or the reason (``403 Quiet Hours``) when the rules set
  ``sip.refusal_phrase``.
- No I/O of its own: only ``KSR.pv.get``, ``KSR.hdr`` and ``KSR.sl.send_reply``.
"""

from __future__ import annotations

from functools import lru_cache

from sipguard.adapters.kamailio.ksr import Ksr
from sipguard.adapters.kamailio.reload import RulesWatch
from sipguard.policy import Ruleset
from sipguard.policy.facts import Verdict
from sipguard.policy.signalling import MANAGED, refusal_phrase, relayed
from sipguard.sip.headers import canonical

REASON_TEXT = {403: "Forbidden", 404: "Not Found", 500: "Server Error", 503: "Unavailable"}


def kept_keys(rules: Ruleset) -> frozenset[str]:
    """The lookup keys a relayed message keeps under ``rules``."""
    return _kept(tuple(rules.model.sip.relay_headers))


@lru_cache(maxsize=8)
def _kept(extra: tuple[str, ...]) -> frozenset[str]:
    # Keyed by the names, not the ruleset: a reloaded ruleset is never kept alive here.
    return relayed(list(extra)) | MANAGED


def header_names(buffer: str) -> list[str]:
    """The header names of a SIP message buffer, in order, each name once."""
    head = buffer.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    names: dict[str, None] = {}
    for line in head:
        if line[:1] in (" ", "\t"):
            continue
        name = line.partition(":")[0].strip()
        if name:
            names.setdefault(name, None)
    return list(names)


def strip_unlisted(ksr: Ksr, rules: Ruleset | RulesWatch | None) -> list[str]:
    """Remove every header of the current message that ``rules`` do not let through.

    Without rules yet (a worker configured only through ``sipguard.rules`` that has not
    screened a call) the call-control headers alone are kept: nothing unlisted leaks.
    """
    if isinstance(rules, RulesWatch):
        rules = rules.rules
    buffer = ksr.pv.get("$mb")
    if not isinstance(buffer, str):
        return []
    keep = kept_keys(rules) if rules is not None else _kept(())
    gone = [name for name in header_names(buffer) if canonical(name) not in keep]
    for name in gone:
        ksr.hdr.remove(name)
    return gone


def refusal_text(verdict: Verdict, rules: Ruleset) -> str:
    """The reason phrase of a refusal's status line."""
    if rules.model.sip.refusal_phrase:
        return refusal_phrase(verdict.reason.value)
    return REASON_TEXT.get(verdict.status, "Forbidden")


def reject(ksr: Ksr, verdict: Verdict, rules: Ruleset) -> None:
    """Answer a refused INVITE statelessly with its status, phrase and Reason header."""
    ksr.hdr.append_to_reply(f"Reason: {verdict.reason_header}\r\n")
    ksr.sl.send_reply(verdict.status, refusal_text(verdict, rules))
