"""Behavioural limits (rules 1.1 section 5): calls per minute and distinct callees per hour.

Invariants:
- CALL_RATE_EXCEEDED (12a) applies when the number already has ``max_calls_per_minute``
  allowed calls in the 60 s before this call; MASS_CALLING (12b) when the callee is new for
  the number within the last hour and the number already reached
  ``max_distinct_callees_per_hour`` distinct callees.  Both count as violations.
- They come after check 12 (FREQUENCY_CAP).  The daily slot is an atomic take, so the
  order is: read whether the daily cap is already reached (12), read 12a and 12b, then take
  the daily slot and record the call.  Between the reads and the record another worker may
  place a call of the same number, so under concurrency a limit of N may admit N+1 in one
  window: the same bound a carrier's SBC rate limiter gives.
- Only allowed calls are recorded (``State.record_call``), with times as epoch seconds.
- ``warnings`` only reads the state, after a call was allowed; adapters turn its answer
  into ``limit_warning`` alerts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date

from sipguard.policy.facts import Reason
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

MINUTE, HOUR = 60.0, 3600.0
_RATE = Reason.CALL_RATE_EXCEEDED
_MASS = Reason.MASS_CALLING


def breached(rules: Ruleset, state: State, nsn: str, callee: str, t: float) -> list[Reason]:
    """Every limit of 12a and 12b that this call breaks, in precedence order."""
    found: list[Reason] = []
    rate = rules.max_calls_per_minute
    if rate is not None and state.calls_since(nsn, t - MINUTE) >= rate:
        found.append(_RATE)
    most = rules.max_distinct_callees
    if most is not None:
        seen, distinct = state.callee_seen(nsn, callee, t - HOUR)
        if not seen and distinct >= most:
            found.append(_MASS)
    return found


def record(rules: Ruleset, state: State, nsn: str, callee: str, t: float) -> None:
    """Record an allowed call for the limits that are set."""
    if rules.max_calls_per_minute is not None or rules.max_distinct_callees is not None:
        state.record_call(nsn, callee, t, HOUR)


WARN_AT = 0.8  # limit_warning (rules 1.1 section 6) at 80% of a limit


def warnings(
    rules: Ruleset, state: State, call: tuple[str, str, str], t: float, day: date
) -> list[tuple[str, int, int]]:
    """The limits an allowed call (number, operator, callee) has just brought to 80%.

    Each is ``(limit name, count, limit)``; a limit warns on the one call that reaches
    ``ceil(0.8 * limit)`` in its window, so a window gives one warning per limit.
    """
    number, operator, callee = call
    found: list[tuple[str, int, int]] = []

    def check(name: str, limit: int | None, count: Callable[[], int]) -> None:
        if limit is not None and (n := count()) == math.ceil(WARN_AT * limit):
            found.append((name, n, limit))

    cap, rate, most = rules.max_calls, rules.max_calls_per_minute, rules.max_distinct_callees
    check("max_calls_per_callee_per_day", cap, lambda: state.calls_on(operator, callee, day))
    check("max_calls_per_minute_per_number", rate, lambda: state.calls_since(number, t - MINUTE))
    distinct = lambda: state.callee_seen(number, callee, t - HOUR)[1]  # noqa: E731
    check("max_distinct_callees_per_hour_per_number", most, distinct)
    return found
