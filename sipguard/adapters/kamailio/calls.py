"""What the Kamailio plugin keeps about an allowed call from its INVITE to its end.

Invariants:
- An allowed call is *started* just before it is relayed and *ended* once, at its final
  failure reply (tm failure route) or at the BYE of the answered call.  What it needs at
  its end is kept in Kamailio's shared ``sipguard`` htable under a hash of its Call-ID, as
  ``DIRECTION|TRUNK|COUNTED|NAMED|NUMBER|CALLER``, so any worker can end a call another started.
  It is read and written through ``KSR.htable`` with the key as a value, never through a
  ``$sht(...)`` pseudo-variable named per call: Kamailio parses each pseudo-variable name
  it is given and keeps it in the worker's cache of names, so a name per call would cost a
  parse and one more cache entry with every call.
- Trunk capacity (rules 1.1 section 5): a call on a trunk with ``max_concurrent_calls``
  takes a slot (``capacity.TrunkSlots``) when it starts and gives it back when it ends.
  An outbound trunk that is full is refused before the policy runs (no daily cap or limit
  is spent on it), as ``serve`` does; an inbound call learns its trunk from the verdict
  and is refused after it.  Either way the answer is 503 with ``Retry-After``.
- Forwarded calls (rules 1.1 section 3): an allowed inbound call to a filed number is
  recorded in the State (``inbound_started``) when it starts and forgotten when it ends
  (``inbound_ended``), so a forward verified by any worker, or by a serve node sharing the
  state, sees it while it is up.
- In-dialog requests (rules 1.1 section 1): uac's restore puts the verified From URI on
  every request the call center sends inside the dialog, but keeps its display name; the
  display name is replaced on those requests too, by the filed one the INVITE carried or
  by none (``textops.subst_hf`` on the part before ``<`` only, which uac's change of the
  URI does not touch).
- Short calls (rules 1.1 section 5): the end of an answered outbound call feeds
  ``policy.shortcalls``; a suspension it causes is journaled as an admin entry with the
  reason ``SHORT_CALLS``, logged, and alerted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sipguard.adapters.kamailio.alerting import WorkerAlerts
from sipguard.adapters.kamailio.capacity import NoCounter, TrunkSlots
from sipguard.adapters.kamailio.egress import display_name
from sipguard.adapters.kamailio.ksr import Ksr
from sipguard.adapters.kamailio.reload import RulesWatch
from sipguard.errors import SipguardError
from sipguard.journal import admin_entry
from sipguard.journal.client import ServiceClient
from sipguard.policy import Ruleset, shortcalls
from sipguard.policy.facts import CallFacts, Direction, Verdict
from sipguard.policy.state import State

TABLE = "sipguard"  # the htable the generated kamailio.cfg defines
RETRY_AFTER = 5  # seconds, the Retry-After of a 503 for a full trunk


@dataclass(frozen=True, slots=True)
class Started:
    """What the end of an allowed call needs to know."""

    direction: str
    trunk: str
    counted: bool  # it holds a slot of its trunk
    named: bool  # it went out with its number's filed display name
    number: str
    caller: str

    def text(self) -> str:
        """The htable value."""
        flags = ("1" if self.counted else "", "1" if self.named else "")
        return "|".join((self.direction, self.trunk, *flags, self.number, self.caller))

    @classmethod
    def parse(cls, raw: object) -> Started | None:
        """The value read back, or None when there is none (or it is not ours)."""
        if not isinstance(raw, str) or raw.count("|") != 5:
            return None
        direction, trunk, counted, named, number, caller = raw.split("|")
        return cls(direction, trunk, counted == "1", named == "1", number, caller)


class CallTracker:
    """Trunk slots, inbound calls and short calls for the plugin of one worker."""

    def __init__(self, ksr: Ksr) -> None:
        self.ksr = ksr
        self.slots = TrunkSlots(ksr.htable)
        self.alerts = WorkerAlerts(ksr.htable, ksr.err)

    @staticmethod
    def _key(call_id: str) -> str:
        key = hashlib.blake2b(call_id.encode("utf-8", "surrogatepass"), digest_size=12)
        return f"c:{key.hexdigest()}"

    def watched(self, watch: RulesWatch) -> RulesWatch:
        """``watch``, its failed reloads alerted (``rules_reload_failed``)."""

        def failed(issues: list[str]) -> None:
            self.alerts.reload_failed(watch.rules, datetime.now(UTC), issues)

        watch.failed = failed
        return watch

    def _busy(self, trunk: str) -> None:
        self.ksr.info(f"sipguard: trunk {trunk} is full (max_concurrent_calls); answering 503\n")
        self.ksr.hdr.append_to_reply(f"Retry-After: {RETRY_AFTER}\r\n")
        self.ksr.sl.send_reply(503, "Service Unavailable")

    def admit(self, rules: Ruleset, source_ip: str) -> bool:
        """False (503 sent) when the call comes from a call center's trunk that is full."""
        direction, trunk = rules.classify_source(source_ip)
        if direction is not Direction.OUTBOUND or trunk is None:
            return True
        if not self.slots.full(trunk, rules.trunk_max_calls.get(trunk)):
            return True
        self._busy(trunk)
        return False

    def started(
        self, facts: CallFacts, verdict: Verdict, rules: Ruleset, state: State | None,
        now: datetime,
    ) -> bool:  # fmt: skip
        """Take the call's trunk slot and record it; False (503 sent) when the trunk is full."""
        trunk, direction = verdict.trunk or "", verdict.direction
        cap = rules.trunk_max_calls.get(trunk)
        try:
            if not self.slots.take(trunk or None, cap):
                self._busy(trunk)
                return False
        except NoCounter as exc:
            self.ksr.err(f"sipguard: max_concurrent_calls of {trunk} not enforced: {exc}\n")
            cap = None
        caller, number = verdict.caller or "", verdict.number or ""
        inbound = direction is Direction.INBOUND
        if inbound and caller and number and state is not None:
            state.inbound_started(facts.call_id, caller, number, now)
        kind = direction.value if direction is not None else ""
        named = bool(display_name(verdict, rules)) if direction is Direction.OUTBOUND else False
        started = Started(kind, trunk, cap is not None and bool(trunk), named, number, caller)
        self.ksr.htable.sht_sets(TABLE, self._key(facts.call_id), started.text())
        return True

    def in_dialog(self, watch: RulesWatch | None) -> None:
        """Drop the display name from a call center's in-dialog request of an outbound call."""
        pv = self.ksr.pv
        shown = pv.get("$fn")
        if watch is None or not isinstance(shown, str) or not shown.strip():
            return
        source = pv.get("$si")
        if not isinstance(source, str) or watch.rules.classify_source(source)[0] is not (
            Direction.OUTBOUND
        ):
            return
        started = Started.parse(self.ksr.htable.sht_get(TABLE, self._key(str(pv.get("$ci")))))
        if started is None or started.direction != Direction.OUTBOUND.value:
            return
        filed = watch.rules.numbers.get(started.number) if started.named else None
        name = filed.display_name if filed is not None and filed.display_name else ""
        shown = f'"{name}" '.replace("/", "\\/") if name else ""
        self.ksr.textops.subst_hf("From", f"/^[^<]+/{shown}/", "f")

    def ended(self, call_id: str, answered: datetime | None, at: datetime, worker: Worker) -> None:
        """The call ended: give back its slot, forget it, feed short-call suspension."""
        key = self._key(call_id)
        started = Started.parse(self.ksr.htable.sht_get(TABLE, key))
        if started is None:
            return
        self.ksr.htable.sht_rm(TABLE, key)
        if started.counted:
            self.slots.release(started.trunk)
        state, watch = worker.state, worker.watch
        if state is None or watch is None:
            self.ksr.err(f"sipguard: no state; the end of {call_id!r} was not recorded\n")
            return
        try:
            where = (watch.rules, state, worker.journal)
            self._ended_in_state(started, call_id, answered, at, where)
        except SipguardError as exc:
            self.ksr.err(f"sipguard: state unavailable ({exc}); end of {call_id!r} lost\n")

    def _ended_in_state(
        self,
        started: Started,
        call_id: str,
        answered: datetime | None,
        at: datetime,
        where: tuple[Ruleset, State, ServiceClient | None],
    ) -> None:
        rules, state, journal = where
        if started.direction == Direction.INBOUND.value and started.caller and started.number:
            state.inbound_ended(call_id)
        if started.direction != Direction.OUTBOUND.value or answered is None:
            return
        lasted = (at - answered).total_seconds()
        if not shortcalls.call_ended(rules, state, started.number, lasted, at):
            return
        number = started.number
        detail = {"by": "policy", "reason": shortcalls.REASON}
        entry = admin_entry("suspend", at, number=number, detail=detail)
        self.ksr.err(f"sipguard: number {number} suspended ({shortcalls.REASON})\n")
        if journal is not None:
            journal.append_later(entry)
        self.alerts.short_calls(rules, number, at)


class Worker(Protocol):
    """What :meth:`CallTracker.ended` reads of the plugin (``SipguardKemi`` has it)."""

    state: State | None
    journal: ServiceClient | None
    watch: RulesWatch | None
