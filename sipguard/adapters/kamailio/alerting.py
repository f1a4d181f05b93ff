"""NOC alerts from the Kamailio plugin (rules 1.1 section 6).

Invariants:
- Each worker process has its own :class:`~sipguard.alerts.AlertSender` (a daemon thread
  with a bounded queue), made on first use in that process, never before the fork, so no
  thread is inherited half-alive.  Sending only enqueues: an alert never delays a call.
- The delivery follows the rules in force: a reload that changes the ``alerts`` block
  changes where the next alert goes; rules without one send nothing.
- ``number_suspended`` for a verdict that suspended its number, ``short_calls`` and
  ``number_suspended`` for a short-call suspension, ``journal_failed`` for a decision the
  journal did not take, ``limit_warning`` for an allowed call that brought a limit to 80%
  (``policy.limits.warnings``), and ``rules_reload_failed`` once per failed version of the
  files for the whole Kamailio, not once per worker: the first worker to fail on it wins an
  atomic ``sht_inc`` on the ``sipguard_up`` htable.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from typing import Any

from sipguard.alerts import Alert, AlertSender, Delivery, Event, delivery_of, suspended
from sipguard.policy import Ruleset, limits
from sipguard.policy.facts import CallFacts, Direction, Verdict
from sipguard.policy.state import State

TABLE = "sipguard_up"


class WorkerAlerts:
    """The alerts of one Kamailio worker."""

    def __init__(self, htable: Any) -> None:
        self._ht = htable
        self._sender: AlertSender | None = None
        self._pid = 0

    def _send(self, rules: Ruleset, alert: Alert) -> None:
        delivery = delivery_of(rules.model.alerts)
        if delivery is None or alert.event not in delivery.events:
            return
        self._sender_for(delivery).send(alert)

    def _sender_for(self, delivery: Delivery) -> AlertSender:
        if self._sender is None or self._pid != os.getpid():
            self._sender, self._pid = AlertSender(delivery), os.getpid()
        self._sender.delivery = delivery
        return self._sender

    def decided(
        self, facts: CallFacts, verdict: Verdict, rules: Ruleset, state: State, now: datetime
    ) -> None:
        """Alerts of one decision: a suspension it caused, limits it brought to 80%."""
        if rules.model.alerts is None:
            return
        if verdict.suspended_now:
            self._send(rules, suspended(verdict.number, verdict.reason.value, now,
                                        trunk=verdict.trunk, call_id=facts.call_id))  # fmt: skip
        if verdict.allowed and verdict.direction is Direction.OUTBOUND and verdict.number:
            self._warn(facts, verdict, rules, state, now)

    def _warn(
        self, facts: CallFacts, verdict: Verdict, rules: Ruleset, state: State, now: datetime
    ) -> None:
        if Event.LIMIT_WARNING not in (delivery_of(rules.model.alerts) or _NONE).events:
            return
        callee = verdict.callee if verdict.callee is not None else (facts.ruri_user or "")
        t, (_, _, day) = rules.clock.at(now)
        call = (verdict.number or "", verdict.operator or "", callee)
        for name, count, limit in limits.warnings(rules, state, call, t, day):
            details: dict[str, str | int | float | None] = {"number": verdict.number}
            details.update(limit=name, count=count, of=limit)
            self._send(rules, Alert(Event.LIMIT_WARNING, now, details))

    def short_calls(self, rules: Ruleset, number: str, at: datetime) -> None:
        """A number the short-call rule has just suspended."""
        self._send(rules, Alert(Event.SHORT_CALLS, at, {"number": number}))
        self._send(rules, suspended(number, "SHORT_CALLS", at))

    def journal_failed(self, rules: Ruleset, at: datetime, problem: str) -> None:
        """A decision the journal did not take."""
        self._send(rules, Alert(Event.JOURNAL_FAILED, at, {"problem": problem}))

    def reload_failed(self, rules: Ruleset, at: datetime, issues: list[str]) -> None:
        """A reload that failed: one alert per failed version of the files, for all workers."""
        digest = hashlib.blake2b("\n".join(issues).encode(), digest_size=8).hexdigest()
        key = f"reload-failed:{digest}"
        if int(self._ht.sht_inc(TABLE, key)) != 1:
            return
        details: dict[str, str | int | float | None] = {"issues": len(issues)}
        details["first"] = issues[0] if issues else None
        self._send(rules, Alert(Event.RULES_RELOAD_FAILED, at, details))


_NONE = Delivery("", frozenset())
