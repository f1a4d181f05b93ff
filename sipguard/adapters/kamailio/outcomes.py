"""Call outcomes in the Kamailio plugin: when an allowed call was answered and how it ended.

Invariants:
- A final failure reply (tm's failure route) or the BYE of an answered call adds an outcome
  entry; answered calls are remembered in Kamailio's shared ``htable`` (the
  :class:`~sipguard.adapters.kamailio.state.CallLedger`), so any worker can end a call.
- An outcome is sent without waiting for its commit (no answer waits for it).  One that
  cannot be written is counted (:attr:`CallOutcomes.lost`) and logged with its full record,
  never dropped quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sipguard.adapters.kamailio.metrics import PluginMetrics
from sipguard.adapters.kamailio.state import CallLedger
from sipguard.journal import outcome_entry
from sipguard.journal.client import ServiceClient

Connect = Callable[[], ServiceClient | None]  # the worker's journal, connected (or raises)


class CallOutcomes:
    """The outcome side of one worker: the ledger, and the outcome entries it writes."""

    def __init__(
        self,
        ksr: Any,
        connect: Connect,
        not_ready: tuple[type[Exception], ...],
        metrics: PluginMetrics,
    ) -> None:
        self.ksr = ksr
        self.metrics = metrics
        self.ledger = CallLedger(ksr.htable)
        self.lost = 0
        self._connect = connect
        self._not_ready = not_ready

    def opened(self, call_id: str, caller_ip: str) -> None:
        """An allowed call is relayed: track it."""
        self.ledger.open(call_id, caller_ip)
        self.metrics.call_opened()

    def reply(self) -> None:
        """A reply to an allowed INVITE: remember when a 2xx answered it."""
        pv = self.ksr.pv
        if str(pv.get("$rs")).startswith("2") and pv.get("$rm") == "INVITE":
            self.ledger.answered(str(pv.get("$ci")), datetime.now(UTC))

    def failure(self) -> None:
        """The allowed call ended without an answer (tm's failure route)."""
        call_id = str(self.ksr.pv.get("$ci"))
        code = self.ksr.pv.get("$T_reply_code")
        status = int(code) if isinstance(code, int | str) and str(code).isdigit() else 500
        if self.ledger.close(call_id) is not None:
            self.metrics.call_closed()
        self._write(call_id, None, status, "caller" if status == 487 else "callee")

    def bye(self) -> None:
        """A BYE on a route set: the end of an answered call, if it is one we track."""
        call_id = str(self.ksr.pv.get("$ci"))
        opened = self.ledger.close(call_id)
        if opened is not None:
            self.metrics.call_closed()
        if opened is None or opened.answered_at is None:
            return
        by = "caller" if self.ksr.pv.get("$si") == opened.caller_ip else "callee"
        self._write(call_id, opened.answered_at, 200, by)

    def _write(self, call_id: str, answered: datetime | None, status: int, by: str) -> None:
        entry = outcome_entry(call_id, answered, datetime.now(UTC), status, by)
        try:
            journal = self._connect()  # connects (or reconnects) a worker that screened none
            if journal is not None:
                journal.append_later(entry)
        except self._not_ready as exc:
            self.lost += 1
            self.metrics.outcome_lost()
            lost = f"{self.lost} lost in this worker"
            self.ksr.err(f"sipguard: outcome not journaled ({exc}; {lost}): {entry.as_dict()}\n")
