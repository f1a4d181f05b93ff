"""The sending side of a call resolved once per distinct set of caller headers.

``resolve(facts, rules)`` answers everything ``evaluate`` reads from the source address and
the caller headers alone: direction, trunk and its operator, the caller identity (rules 1.1
section 1), and, for an outbound call, which of checks 2 to 6 already decides it (the
caller's filing period, check 4, depends on the date and stays with ``evaluate``).

Invariants:
- ``resolve`` is a pure function of the ruleset (immutable once loaded) and of the facts'
  ``source_ip``, ``from_user``, ``from_host``, ``pai_user``, ``identities``, ``privacy``,
  ``rpid_hidden`` and ``forwarded``; it reads no state and no time.
- ``resolved`` memoises it in ``Ruleset.callers`` keyed by (source_ip, from_user,
  from_host, pai_user), only for facts whose other four fields are empty (no identity list,
  no Privacy, no RPID privacy, not forwarded) and only for outbound calls from a filed
  caller on a trunk that monitors nothing.  A call center sends from a bounded set of filed
  numbers, so those keys repeat; the public's numbers on inbound calls, and callers that
  are filed nowhere (an extension appended, a fuzzed or invented From), are never stored,
  so invented numbers cannot fill the memo; a key enters on its second sighting
  (``Ruleset.callers_seen``), so a filed From beside a host or P-Asserted-Identity that never
  repeats (a fuzzer's bit flips) leaves nothing behind it either.  The memo stops growing
  at ``MEMO_LIMIT`` keys (about 15 MB) and is never emptied while the ruleset lives: an
  entry cannot go stale, and freeing tens of thousands at once would hold the interpreter
  for milliseconds.  A reload starts a new, empty memo.  tests/policy/test_callers.py pins
  ``resolved`` to ``resolve`` and ``evaluate`` to the plain reference.
- Checks 2 to 6 keep the precedence of spec section 4: CALLER_HIDDEN, then 2a (routed
  ``FORWARDED``), then NUMBER_LENGTH_CHANGED / CALLER_UNREGISTERED for an unfiled caller
  (``early``); for a filed caller, CALLER_NOT_ON_TRUNK or IDENTITY_MISMATCH (``late``) apply
  only after its filing period is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipguard.policy.facts import CallFacts, Direction, Reason
from sipguard.policy.identity import CallerIdentity, caller_identity, hidden
from sipguard.policy.numbers import NumberEntry

if TYPE_CHECKING:
    from sipguard.policy.ruleset import Ruleset

#: (source_ip, from_user, from_host, pai_user)
CallerKey = tuple[str, str | None, str | None, str | None]
#: (direction, trunk, operator, identity, early, entry, late, route); see ``resolve``.
Resolved = tuple[
    Direction | None, str | None, str | None, CallerIdentity, Reason | None,
    NumberEntry | None, Reason | None, int,
]  # fmt: skip
#: ``route``: the ordinary checks, monitor mode (``monitor.py``), or check 2a decides.
PLAIN, MONITORED, FORWARDED = 0, 1, 2
MEMO_LIMIT = 32768

_OUT = Direction.OUTBOUND


def resolved(facts: CallFacts, rules: Ruleset) -> Resolved:
    """``resolve(facts, rules)``, memoised where the invariants above allow."""
    if facts.identities or facts.privacy or facts.rpid_hidden or facts.forwarded:
        return resolve(facts, rules)
    key = (facts.source_ip, facts.from_user, facts.from_host, facts.pai_user)
    memo = rules.callers
    found = memo.get(key)
    if found is None:
        found = resolve(facts, rules)
        keep = found[5] is not None and found[7] == PLAIN and len(memo) < MEMO_LIMIT
        if keep and rules.callers_seen.again(key):
            memo[key] = found
    return found


def resolve(facts: CallFacts, rules: Ruleset) -> Resolved:
    """What the source and the caller headers alone decide (see the module invariants).

    ``early`` is the verdict reason of checks 2 to 4 that needs no date (the verdict then
    names no number); ``entry`` is the filed caller, ``late`` its check 5 or 6 reason.
    """
    direction, trunk = rules.classify_source(facts.source_ip)
    ident = caller_identity(facts, rules.nsn)
    if direction is not _OUT or trunk is None:
        return direction, None, None, ident, None, None, None, PLAIN
    operator = rules.trunk_operator[trunk]
    if trunk in rules.monitoring:
        return _OUT, trunk, operator, ident, None, None, None, MONITORED
    caller = ident[0]
    if caller is None or hidden(facts):
        return _OUT, trunk, operator, ident, Reason.CALLER_HIDDEN, None, None, PLAIN
    if facts.forwarded and trunk in rules.forwarding_trunks:  # forwarding.applies
        return _OUT, trunk, operator, ident, None, None, None, FORWARDED
    entry = rules.numbers.get(caller)
    if entry is None:
        related = rules.numbers.length_related(caller)
        unfiled = Reason.NUMBER_LENGTH_CHANGED if related else Reason.CALLER_UNREGISTERED
        return _OUT, trunk, operator, ident, unfiled, None, None, PLAIN
    late = None
    if entry.trunk != trunk:
        late = Reason.CALLER_NOT_ON_TRUNK
    elif ident[2]:  # check 6: two identity headers carry other numbers
        late = Reason.IDENTITY_MISMATCH
    return _OUT, trunk, operator, ident, None, entry, late, PLAIN
