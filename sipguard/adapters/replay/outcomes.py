"""Allowed calls followed through the capture: trunk capacity, short calls and alerts.

Invariants:
- An allowed call is tracked from its screened INVITE to its end in the capture: a BYE or
  CANCEL of its Call-ID, or a final non-2xx response to its INVITE; its first 2xx to the
  INVITE is its answer.  Only messages whose Call-ID (read by pattern first) is tracked are
  parsed; one that does not parse is skipped.
- Trunk capacity (rules 1.1 section 5) is reported, never enforced: a call that finds its
  trunk's ``max_concurrent_calls`` calls already up is marked ``trunk_full`` (serve and the
  plugin would have answered it 503) and, as it would not have been up, is not counted.
- Short calls (rules 1.1 section 5): the end of an answered outbound call feeds
  ``policy.shortcalls`` with its capture times, exactly as serve feeds it with its clock.
- Alerts (rules 1.1 section 6) are what serve would send: ``number_suspended``,
  ``short_calls`` and ``limit_warning`` (``policy.limits.warnings``).  Each is counted in
  the summary by event, and handed to ``send`` only when one is given (``--send-alerts``),
  and only if the rules' ``alerts`` block lists its event.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sipguard.alerts import Alert, Event, suspended
from sipguard.errors import SipParseError
from sipguard.policy import CallFacts, Ruleset, State, Verdict, limits, shortcalls
from sipguard.policy.facts import Direction
from sipguard.policy.instant import Instant
from sipguard.sip import Request, Response, parse

_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.I | re.M)


@dataclass(slots=True)
class _Up:
    direction: Direction | None
    trunk: str | None
    number: str | None
    answered_ns: int | None = None


@dataclass(slots=True)
class CallsReport:
    """What the calls' outcomes added to a replay."""

    trunk_full: Counter[str] = field(default_factory=Counter)  # by trunk
    alerts: Counter[str] = field(default_factory=Counter)  # by event
    short_calls: list[str] = field(default_factory=list)  # numbers suspended for them

    def as_dict(self) -> dict[str, object]:
        """The summary's ``trunk_full``, ``short_call_suspensions`` and ``alerts``."""
        return {
            "trunk_full": dict(sorted(self.trunk_full.items())),
            "short_call_suspensions": list(self.short_calls),
            "alerts": dict(sorted(self.alerts.items())),
        }


class CallOutcomes:
    """Follows the allowed calls of a replay to their ends."""

    def __init__(self, rules: Ruleset, state: State, send: Callable[[Alert], None] | None):
        self.rules, self.state, self.send = rules, state, send
        self.report = CallsReport()
        self._up: dict[str, _Up] = {}
        self._per_trunk: Counter[str] = Counter()

    def screened(self, facts: CallFacts, verdict: Verdict, at: datetime) -> bool:
        """Track an allowed call; True when it found its trunk full (it is then not tracked)."""
        if verdict.suspended_now:
            self._alert(suspended(verdict.number, verdict.reason.value, at,
                                  trunk=verdict.trunk, call_id=facts.call_id))  # fmt: skip
        if not verdict.allowed:
            return False
        trunk = verdict.trunk
        cap = self.rules.trunk_max_calls.get(trunk) if trunk is not None else None
        if trunk is not None and cap is not None:
            if self._per_trunk[trunk] >= cap:
                self.report.trunk_full[trunk] += 1
                return True
            self._per_trunk[trunk] += 1
        self._up[facts.call_id] = _Up(verdict.direction, trunk, verdict.number)
        if verdict.direction is Direction.OUTBOUND:
            self._warn(facts, verdict, at)
        return False

    def _warn(self, facts: CallFacts, verdict: Verdict, at: datetime) -> None:
        callee = verdict.callee if verdict.callee is not None else (facts.ruri_user or "")
        t, (_, _, day) = self.rules.clock.at(at)
        call = (verdict.number or "", verdict.operator or "", callee)
        for name, count, limit in limits.warnings(self.rules, self.state, call, t, day):
            details: dict[str, str | int | float | None] = {"number": verdict.number}
            details.update(limit=name, count=count, of=limit)
            self._alert(Alert(Event.LIMIT_WARNING, at, details))

    def _alert(self, alert: Alert) -> None:
        self.report.alerts[alert.event.value] += 1
        if self.send is not None:
            self.send(alert)

    def observe(self, data: bytes, ts_ns: int) -> None:
        """An answer or an end of a tracked call."""
        if not self._up:
            return
        found = _CALL_ID.search(data)
        if found is None or found.group(1).decode("utf-8", "replace") not in self._up:
            return
        try:
            message = parse(data)
        except SipParseError:
            return
        call = self._up.get(message.call_id)
        if call is None:
            return
        if isinstance(message, Response) and message.cseq.method == "INVITE":
            if message.status >= 300:
                self._ended(message.call_id, call, ts_ns)
            elif message.status >= 200 and call.answered_ns is None:
                call.answered_ns = ts_ns
        elif isinstance(message, Request) and message.method in ("BYE", "CANCEL"):
            self._ended(message.call_id, call, ts_ns)

    def _ended(self, call_id: str, call: _Up, ts_ns: int) -> None:
        del self._up[call_id]
        if call.trunk is not None and self._per_trunk[call.trunk] > 0:
            self._per_trunk[call.trunk] -= 1
        if call.direction is not Direction.OUTBOUND or call.answered_ns is None:
            return
        number, at = call.number, Instant.from_ns(ts_ns)
        lasted = (ts_ns - call.answered_ns) / 1e9
        if number is None or not shortcalls.call_ended(self.rules, self.state, number, lasted, at):
            return
        self.report.short_calls.append(number)
        self._alert(Alert(Event.SHORT_CALLS, at, {"number": number}))
        self._alert(suspended(number, shortcalls.REASON, at))
