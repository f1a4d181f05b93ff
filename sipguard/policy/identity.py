"""The caller identity from every header that carries one (rules 1.1 section 1).

Invariants:
- Precedence is P-Asserted-Identity (every value), P-Preferred-Identity (every value),
  counting Remote-Party-ID values, then From; the caller identity is the first NSN in that
  order, and a header without a number is passed over.
- The mismatch flag is true when any two of those headers carry numbers whose NSNs differ.
- Facts that list no ``identities`` but a ``pai_user`` mean one PAI value: the answer is the
  same as for ``identities == ((PAI, pai_user),)`` (pinned in tests/policy).
- Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from sipguard.policy.facts import CallFacts

#: (caller NSN, header it came from, two headers disagree)
CallerIdentity = tuple[str | None, str | None, bool]


class IdentityHeader(StrEnum):
    """The verdict's ``identity_header`` values, in precedence order."""

    PAI = "p-asserted-identity"
    PPI = "p-preferred-identity"
    RPID = "remote-party-id"
    FROM = "from"


# Plain strings: the verdict carries the value, and a member lookup costs time per call.
PAI, PPI, RPID, FROM = (h.value for h in IdentityHeader)
# Privacy values that hide the caller (RFC 3323); RPID privacy values that do.
HIDING = frozenset({"id", "user", "header"})
RPID_HIDING = frozenset({"full", "uri"})


def caller_identity(facts: CallFacts, nsn: Callable[[str | None], str | None]) -> CallerIdentity:
    """The caller NSN, its header and whether two identity headers disagree."""
    listed = facts.identities
    if not listed:
        shown = nsn(facts.from_user)
        pai = facts.pai_user
        first = None if pai is None else nsn(pai)
        if first is None:
            return shown, (None if shown is None else FROM), False
        return first, PAI, shown is not None and shown != first
    caller: str | None = None
    header: str | None = None
    mismatch = False
    for name, raw in (*listed, (FROM, facts.from_user)):
        number = nsn(raw)
        if number is None:
            continue
        if caller is None:
            caller, header = number, name
        elif number != caller:
            mismatch = True
    return caller, header, mismatch


def hidden(facts: CallFacts) -> bool:
    """Check 2 apart from "no number": an anonymous From or identity user, hiding Privacy,
    or RPID privacy."""
    user, host, pai = facts.from_user, facts.from_host, facts.pai_user
    return bool(
        (facts.privacy and not HIDING.isdisjoint(facts.privacy))
        or facts.rpid_hidden
        or (user is not None and user.lower() == "anonymous")
        or (host is not None and host.lower() == "anonymous.invalid")
        or (
            _anonymous(facts.identities)
            if facts.identities
            else (pai is not None and pai.lower() == "anonymous")
        )
    )


def _anonymous(identities: tuple[tuple[str, str | None], ...]) -> bool:
    return any(raw is not None and raw.lower() == "anonymous" for _, raw in identities)
