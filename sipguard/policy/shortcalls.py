"""Short-call suspension (rules 1.1 section 5): robocalls end within seconds.

Invariants:
- Fed one answered outbound call's end at a time (serve's CallEnded, the plugin's
  outcomes, a capture's BYEs); unanswered calls are not outcomes and are not fed.
- When at least ``over_last`` of the number's most recent answered calls have ended and
  more than ``ratio`` of them lasted under ``seconds``, the number is suspended with reason
  ``SHORT_CALLS`` by ``policy``; ``call_ended`` returns True only for that call, so the
  adapter journals one admin entry and sends one alert.
- The State keeps only the last ``over_last`` outcomes of each number.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

REASON = "SHORT_CALLS"


def call_ended(rules: Ruleset, state: State, number: str, lasted: float, at: datetime) -> bool:
    """Record that an answered call of ``number`` lasted ``lasted`` seconds; True if it suspends."""
    rule = rules.short_calls
    if rule is None:
        return False
    seconds, ratio, over_last = rule
    ended, short = state.record_outcome(number, short=lasted < seconds, keep=over_last)
    if ended < over_last or short <= ratio * ended:
        return False
    if state.suspension(number) is not None:
        return False
    state.suspend(number, at, REASON, by="policy")
    return True
