"""Filing periods (rules 1.1 section 7): a filed number outside its period counts as not filed.

Invariants:
- ``out_of_period`` reads the local date through ``Ruleset.clock`` only for an entry that
  has a period, so numbers filed without one cost two attribute reads.
- A date is inside the period when ``valid_from <= date <= valid_until`` (inclusive, local).
"""

from __future__ import annotations

from datetime import datetime

from sipguard.policy.facts import NumberState
from sipguard.policy.numbers import FOREVER, NumberEntry
from sipguard.policy.ruleset import Ruleset

_NOT_YET_VALID = NumberState.NOT_YET_VALID
_EXPIRED = NumberState.EXPIRED


def out_of_period(entry: NumberEntry, rules: Ruleset, now: datetime) -> NumberState | None:
    """``not_yet_valid`` or ``expired`` when ``now``'s local date is outside the period."""
    if not entry.valid_from and entry.valid_until == FOREVER:
        return None
    ordinal = rules.clock.at(now)[1][0]
    if ordinal < entry.valid_from:
        return _NOT_YET_VALID
    if ordinal > entry.valid_until:
        return _EXPIRED
    return None
