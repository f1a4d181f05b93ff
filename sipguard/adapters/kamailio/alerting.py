"""NOC alerts from the Kamailio plugin (rules 1.1 section 6).

Invariants:
- Kamailio's embedded Python runs only while Kamailio calls into it, so a thread of a
  worker would not deliver an alert between calls.  Each alert is therefore delivered by
  a detached process (a double fork: the worker waits only for the first child, which
  exits at once), which POSTs with the retries and back-off of ``sipguard.alerts`` and
  exits.  An alert never delays a call by more than that fork; alerts are rare events.
- A delivery that fails in the end is logged (``alert.undelivered``, on Kamailio's
  stderr) and counted (``sipguard_alerts_undelivered_total``: with metrics on, the process
  that tried it writes its own multiprocess file, which the exporter merges) by that
  process; a fork that fails is logged by the worker.
- The delivery follows the rules in force: a reload that changes the ``alerts`` block
  changes where the next alert goes; rules without one send nothing.
- ``number_suspended`` for a verdict that suspended its number, ``short_calls`` and
  ``number_suspended`` for a short-call suspension, ``journal_failed`` for a decision the
  journal did not take, ``limit_warning`` for an allowed call that brought a limit to 80%
  (``policy.limits.warnings``), and ``rules_reload_failed`` once per failed version of the
  files for the whole Kamailio, not once per worker: the first worker to fail on it wins an
  atomic ``sht_inc`` on the ``sipguard_up`` htable.  ``journal_failed`` is sent the same
  way at most once a minute, so an outage at 100 calls/s is one alert, not 100 a second.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from datetime import datetime

import structlog

from sipguard.adapters.kamailio.ksr import Ksr
from sipguard.alerts import UNDELIVERED, Alert, Delivery, Event, delivery_of, post, suspended
from sipguard.policy import Ruleset, limits
from sipguard.policy.facts import CallFacts, Direction, Verdict
from sipguard.policy.state import State

TABLE = "sipguard_up"
_log = structlog.get_logger("sipguard.alerts")


class WorkerAlerts:
    """The alerts of one Kamailio worker."""

    def __init__(self, htable: Ksr, log: Callable[[str], None]) -> None:
        self._ht = htable
        self._log = log
        self.sent = 0  # alerts handed to a delivery process by this worker

    def _send(self, rules: Ruleset, alert: Alert) -> None:
        delivery = delivery_of(rules.model.alerts)
        if delivery is None or alert.event not in delivery.events:
            return
        try:
            deliver_detached(delivery, alert)
            self.sent += 1
        except OSError as exc:
            self._log(f"sipguard: alert {alert.event.value} not sent (fork failed: {exc})\n")

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
        """A decision the journal did not take: one alert a minute for the whole Kamailio,
        however many calls fail meanwhile (the first worker of the minute sends it)."""
        minute = int(at.timestamp()) // 60
        if int(self._ht.sht_inc(TABLE, f"journal-failed:{minute}")) != 1:
            return
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


def deliver_detached(delivery: Delivery, alert: Alert) -> None:
    """POST ``alert`` from a detached grandchild process; return once it is forked."""
    child = os.fork()
    if child:
        os.waitpid(child, 0)
        return
    code = 0
    try:
        if os.fork() == 0:
            code = _deliver(delivery, alert)
    except BaseException:  # the forked copies must never return into Kamailio's code
        code = 1
    finally:
        os._exit(code)


def _deliver(delivery: Delivery, alert: Alert) -> int:
    """POST with retries and back-off; log a final failure.  The exit status."""
    delay, problem = delivery.backoff, ""
    for attempt in range(1, delivery.attempts + 1):
        problem = post(delivery, alert) or ""
        if not problem:
            return 0
        _log.warning("alert.retry", alert=alert.event.value, problem=problem, attempt=attempt)
        if attempt < delivery.attempts:
            time.sleep(delay)
            delay *= 2
    _log.error("alert.undelivered", alert=alert.event.value, problem=problem,
               attempts=delivery.attempts)  # fmt: skip
    UNDELIVERED.labels(event=alert.event.value).inc()  # a file of its own (multiprocess mode)
    return 1
