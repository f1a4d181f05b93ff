"""The shell's hand-off to the journal: decisions made durable before their answer leaves.

Invariants:
- A ``Decided`` becomes one decision entry; its ``after`` effects run on the loop only once
  the journal writer reports the entry durable (RFC 3261 section 17.2.1: meanwhile the INVITE
  server transaction absorbs retransmissions, so waiting costs nothing on the wire).
- If the write fails, the core is told (``journal_ok = False``) and the decision is logged
  with the full record (``journaled=False``) so it is still on record somewhere.  A rejection
  or an inbound call then goes ahead (``after`` runs: a caller is never left without a final
  answer), but an allowed outbound call is refused with 503 through ``core.unrecorded``:
  traceability is the law for outbound calls, so none is let through unrecorded.
- Each decision and call end is logged exactly once, after its journal write settles.
- Every write is handed over as ``submit_then(entry, done, arg)`` and settled by one
  ``done(arg, stored entry or None)`` call on the loop: no future, closure or extra loop
  turn per call.  The journal service client offers that itself; a journal that hands back
  futures (``concurrent.futures`` from a writer thread, settled back onto the loop with
  ``call_soon_threadsafe``, or asyncio futures) is wrapped by ``journal_futures``, and
  both settle the same way (tests pin one to the other).
- Each ``Malformed`` (an INVITE refused as malformed, whose answer did not wait for its
  record) is logged once, after its journal write settles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import structlog

from sipguard.adapters.server.journal_futures import FutureJournal, FutureSubmit
from sipguard.alerts import Alert, Event, suspended
from sipguard.b2bua.effects import CallEnded, Decided, Effect, Effects, Malformed
from sipguard.journal.entries import admin_entry, decision_entry, malformed_entry, outcome_entry
from sipguard.journal.record import Entry
from sipguard.logs import log_call_end, log_decision
from sipguard.policy import limits, shortcalls
from sipguard.policy.facts import Direction
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

T = TypeVar("T")
Journal = FutureJournal  # what the shell needs from the journal writer


class Submit(Protocol):
    """``submit_then``: write ``entry``, then call ``done(arg, stored entry or None)``."""

    def __call__(self, entry: Entry, done: Callable[[T, Entry | None], None], arg: T) -> None:
        """Hand ``entry`` to the journal; ``done`` settles it on the loop, exactly once."""
        ...


class GateSetup(Protocol):
    """The core's call set-up, read for the limits of an allowed call."""

    @property
    def state(self) -> State:
        """Counts, violations and suspensions."""
        ...


class GateCore(Protocol):
    """What the gate needs from the call core: its journal flag, rules, state, held calls."""

    journal_ok: bool

    @property
    def rules(self) -> Ruleset:
        """The rules in force."""
        ...

    @property
    def setup(self) -> GateSetup:
        """Its call set-up (holds the state)."""
        ...

    def release(self, call_key: int | None) -> bool:
        """Whether a decided call's held effects may run (False: it was refused meanwhile)."""
        ...

    def unrecorded(self, call_key: int | None, now: float, wall: datetime) -> Effects:
        """The effects that refuse an allowed outbound call whose record was not made."""
        ...


class JournalGate:
    """Journals decisions and call ends, then logs them and releases the held effects."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        journal: Journal | None,
        core: GateCore,
        execute: Callable[[Iterable[Effect]], None],
    ) -> None:
        self.journal = journal
        self.rules_hash: str | None = None
        self.failures = 0
        self.decisions: dict[str, int] = {}
        self._loop = loop
        self._core = core
        self._execute = execute
        self._inflight = 0  # writes not yet settled
        self._idle: asyncio.Future[None] | None = None  # set when _inflight drops to 0
        self._submit: Submit | None = None
        if journal is not None:
            fast: Submit | None = getattr(journal, "submit_then", None)
            self._submit = fast if fast is not None else FutureSubmit(loop, journal).submit_then
        #: Where alerts go (``AsyncAlertSender.send``), or None; it never waits.
        self.alert: Callable[[Alert], None] | None = None
        self.warn_limits = False  # send limit_warning alerts (reads the state per call)
        self._numbers: dict[str, str] = {}  # Call-ID -> filed number of an allowed outbound call

    def tables(self) -> tuple[dict[Any, Any], ...]:
        """The dicts whose space a flood may leave (``sipguard.memo.shrink``)."""
        return (self._numbers,)

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for writes in flight and run what they release."""
        if self._inflight:
            self._idle = self._loop.create_future()
            await asyncio.wait([self._idle], timeout=grace)
            self._idle = None
            await asyncio.sleep(0)

    def check(self) -> None:
        """Mirror the writer's health into the core's ``journal_ok``."""
        if self.journal is None:
            return
        healthy = bool(self.journal.healthy)
        if healthy != self._core.journal_ok:
            self._core.journal_ok = healthy
            structlog.get_logger("sipguard.serve").warning(
                "journal.recovered" if healthy else "journal.unhealthy"
            )
            if not healthy and self.alert is not None:
                self.alert(Alert(Event.JOURNAL_FAILED, datetime.now(UTC), {}))

    def decided(self, effect: Decided) -> None:
        """Journal a decision; its ``after`` effects run once the entry is durable."""
        reason = effect.verdict.reason.value
        self.decisions[reason] = self.decisions.get(reason, 0) + 1
        v = effect.verdict
        if v.allowed and v.direction is Direction.OUTBOUND and v.number is not None:
            self._numbers[effect.facts.call_id] = v.number  # for its short-call outcome
            if self.warn_limits and self.alert is not None:
                self._warn(effect)
        if effect.verdict.suspended_now and self.alert is not None:
            v, call_id = effect.verdict, effect.facts.call_id
            alert = suspended(v.number, reason, effect.at, trunk=v.trunk, call_id=call_id)
            self.alert(alert)
        entry = decision_entry(
            effect.facts, effect.verdict, effect.at, legs=effect.legs, rules_hash=self.rules_hash
        )
        if self._submit is None:
            log_decision(entry)
            if self._core.release(effect.call_key):
                self._execute(effect.after)
            return
        self._inflight += 1
        self._submit(entry, self._decision_settled, (effect, entry))

    def malformed(self, effect: Malformed) -> None:
        """Journal an INVITE refused as malformed (its answer has already left), then log it."""
        src = effect.source
        entry = malformed_entry(
            src.host,
            src.port,
            effect.at,
            status=effect.status,
            error=effect.error,
            call_id=effect.call_id,
            direction=effect.direction.value if effect.direction else None,
            trunk=effect.trunk,
            rules_hash=self.rules_hash,
        )
        self.decisions["MALFORMED"] = self.decisions.get("MALFORMED", 0) + 1
        if self._submit is None:
            log_decision(entry)
            return
        self._inflight += 1
        self._submit(entry, self._logged, entry)

    def ended(self, effect: CallEnded) -> None:
        """Journal the outcome of an allowed call, then log it; feed short-call suspension."""
        number = self._numbers.pop(effect.call_id, None)
        if number is not None and effect.answered_at is not None:
            self._short_call(number, effect)
        entry = outcome_entry(
            effect.call_id,
            effect.answered_at,
            effect.ended_at,
            effect.final_status,
            effect.ended_by,
        )
        if self._submit is None:
            log_call_end(entry)
            return
        self._inflight += 1
        self._submit(entry, self._outcome_settled, entry)

    def _warn(self, effect: Decided) -> None:
        """limit_warning alerts for the limits this allowed call brought to 80%."""
        v, rules = effect.verdict, self._core.rules
        callee = v.callee if v.callee is not None else (effect.facts.ruri_user or "")
        t, (_, _, day) = rules.clock.at(effect.at)
        call = (v.number or "", v.operator or "", callee)
        for name, count, limit in limits.warnings(rules, self._core.setup.state, call, t, day):
            details: dict[str, str | int | float | None] = {"number": v.number, "limit": name}
            details.update(count=count, of=limit)
            if self.alert is not None:
                self.alert(Alert(Event.LIMIT_WARNING, effect.at, details))

    def _short_call(self, number: str, effect: CallEnded) -> None:
        lasted = (effect.ended_at - effect.answered_at).total_seconds()  # type: ignore[operator]
        rules, state = self._core.rules, self._core.setup.state
        if not shortcalls.call_ended(rules, state, number, lasted, effect.ended_at):
            return
        detail = {"by": "policy", "reason": shortcalls.REASON}
        entry = admin_entry("suspend", effect.ended_at, number=number, detail=detail)
        if self._submit is not None:
            self._inflight += 1
            self._submit(entry, self._admin_settled, entry)
        structlog.get_logger("sipguard.serve").warning("number.suspended", number=number,
                                                        reason=shortcalls.REASON)  # fmt: skip
        if self.alert is not None:
            self.alert(Alert(Event.SHORT_CALLS, effect.ended_at, {"number": number}))
            self.alert(suspended(number, shortcalls.REASON, effect.ended_at))

    def _decision_settled(self, pair: tuple[Decided, Entry], stored: Entry | None) -> None:
        effect, entry = pair
        if (kept := self._settled(stored)) is not None:
            log_decision(kept)
            if self._core.release(effect.call_key):
                self._execute(effect.after)
            return
        log_decision(entry, journaled=False)
        verdict = effect.verdict
        if verdict.allowed and verdict.direction is Direction.OUTBOUND:
            now = self._loop.time()
            self._execute(self._core.unrecorded(effect.call_key, now, datetime.now(UTC)))
        elif self._core.release(effect.call_key):
            self._execute(effect.after)

    def _logged(self, entry: Entry, stored: Entry | None) -> None:
        if (kept := self._settled(stored)) is not None:
            log_decision(kept)
        else:
            log_decision(entry, journaled=False)

    def _outcome_settled(self, entry: Entry, stored: Entry | None) -> None:
        if (kept := self._settled(stored)) is not None:
            log_call_end(kept)
        else:
            log_call_end(entry, journaled=False)

    def _admin_settled(self, entry: Entry, stored: Entry | None) -> None:
        self._settled(stored)

    def _settled(self, stored: Entry | None) -> Entry | None:
        """Count one write settled; ``stored``, or None after telling the core it failed."""
        self._inflight -= 1
        if self._inflight == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)
        if stored is None:
            self.failures += 1
            self._core.journal_ok = False
        return stored
