"""Call outcomes in the Kamailio plugin: answers, failures and BYEs of the calls it relays.

Invariants:
- tm's reply route of an allowed INVITE marks the call answered at its first 2xx (in the
  shared :class:`~sipguard.adapters.kamailio.state.CallLedger`, a Kamailio ``htable``, so
  any worker can end a call); its failure route, or the BYE of an answered call, ends it.
- Each end adds one outcome entry, sent without waiting for its commit (no SIP answer
  waits on it).  An outcome that cannot be written is counted (``lost``, and the
  ``sipguard_kamailio_lost_outcomes_total`` metric) and logged with its full record, never
  dropped quietly.
- Each end is also handed to ``calls.CallTracker.ended`` once (trunk slot, inbound call,
  short calls), after the worker was made ready, so it finds the state and the journal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sipguard.adapters.kamailio.calls import CallTracker, Worker
from sipguard.adapters.kamailio.ksr import Ksr
from sipguard.adapters.kamailio.metrics import PluginMetrics
from sipguard.adapters.kamailio.state import CallLedger
from sipguard.journal import outcome_entry


class Outcomes:
    """The outcome side of the plugin, for one worker."""

    def __init__(
        self,
        ksr: Ksr,
        calls: CallTracker,
        ready: Callable[[], object],
        not_ready: tuple[type[Exception], ...],
        metrics: PluginMetrics,
    ) -> None:
        self.ksr, self.calls, self.ledger = ksr, calls, CallLedger(ksr.htable)
        self.metrics = metrics
        self._ready, self._not_ready = ready, not_ready
        self.lost = 0

    def opened(self, call_id: str, caller_ip: str) -> None:
        """An allowed call is relayed: track it."""
        self.ledger.open(call_id, caller_ip)
        self.metrics.call_opened()

    def replied(self) -> None:
        """tm reply route of an allowed INVITE: remember when a 2xx answered it."""
        pv = self.ksr.pv
        if str(pv.get("$rs")).startswith("2") and pv.get("$rm") == "INVITE":
            self.ledger.answered(str(pv.get("$ci")), datetime.now(UTC))

    def failed(self, worker: Worker) -> None:
        """tm failure route: the allowed call ended without an answer."""
        call_id = str(self.ksr.pv.get("$ci"))
        code = self.ksr.pv.get("$T_reply_code")
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else 500
        if self.ledger.close(call_id) is not None:
            self.metrics.call_closed()
        self.record(worker, call_id, None, status, "caller" if status == 487 else "callee")

    def bye(self, worker: Worker) -> None:
        """A BYE on the route set: the answered call it belongs to ends."""
        call_id = str(self.ksr.pv.get("$ci"))
        opened = self.ledger.close(call_id)
        if opened is not None:
            self.metrics.call_closed()
        if opened is None or opened.answered_at is None:
            self.calls.ended(call_id, None, datetime.now(UTC), worker)
            return
        by = "caller" if self.ksr.pv.get("$si") == opened.caller_ip else "callee"
        self.record(worker, call_id, opened.answered_at, 200, by)

    def record(
        self, worker: Worker, call_id: str, answered: datetime | None, status: int, by: str
    ) -> None:
        """Journal one call's end and hand it to the call tracker."""
        ended = datetime.now(UTC)
        entry = outcome_entry(call_id, answered, ended, status, by)
        try:
            self._ready()  # connects (or reconnects) a worker that has not screened a call
            if worker.journal is not None:
                worker.journal.append_later(entry)  # no answer waits for an outcome
        except self._not_ready as exc:
            self.lost += 1
            self.metrics.outcome_lost()
            lost = f"{self.lost} lost in this worker"
            self.ksr.err(f"sipguard: outcome not journaled ({exc}; {lost}): {entry.as_dict()}\n")
        self.calls.ended(call_id, answered, ended, worker)
