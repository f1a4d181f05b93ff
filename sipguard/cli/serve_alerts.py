"""The NOC alerts of ``sipguard serve``: one sender on the loop, fed by the journal gate.

Invariants:
- Sending never waits: the gate only enqueues, and a task on the loop posts (with retry and
  back-off, see ``sipguard.alerts``).
- A reload switches the delivery (webhook, events) for every later alert.
- A rules reload that fails raises the ``rules_reload_failed`` alert from the loader's worker
  thread through ``call_soon_threadsafe``; the watcher still keeps the old rules.
- On stop, queued alerts get up to ``DRAIN`` seconds to go out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sipguard.adapters.server.journal_gate import JournalGate
from sipguard.alerts import Alert, AsyncAlertSender, Event, delivery_of
from sipguard.errors import RulesError
from sipguard.policy import Ruleset, load_rules

DRAIN = 5.0


def start(ruleset: Ruleset, gate: JournalGate) -> AsyncAlertSender:
    """The sender for ``ruleset``'s ``alerts`` block, started and wired into ``gate``."""
    alerts = AsyncAlertSender(delivery_of(ruleset.model.alerts))
    alerts.start()
    gate.alert = alerts.send
    gate.warn_limits = warns(alerts)
    return alerts


def reloaded(alerts: AsyncAlertSender, gate: JournalGate, ruleset: Ruleset) -> None:
    """New rules in force: their delivery from now on."""
    alerts.delivery = delivery_of(ruleset.model.alerts)
    gate.warn_limits = warns(alerts)


def warns(alerts: AsyncAlertSender) -> bool:
    """Whether ``limit_warning`` alerts are wanted (the gate then reads the state per call)."""
    return alerts.delivery is not None and Event.LIMIT_WARNING in alerts.delivery.events


def loader(alerts: AsyncAlertSender) -> Callable[[Path], Ruleset]:
    """``load_rules``, raising the ``rules_reload_failed`` alert when a reload fails."""
    loop = asyncio.get_running_loop()

    def load(path: Path) -> Ruleset:
        try:
            return load_rules(path)
        except (RulesError, OSError, ValueError) as exc:
            first = exc.issues[0] if isinstance(exc, RulesError) and exc.issues else exc
            details: dict[str, str | int | float | None] = {"rules": str(path)}
            details["problem"] = str(first)
            alert = Alert(Event.RULES_RELOAD_FAILED, datetime.now(UTC), details)
            loop.call_soon_threadsafe(alerts.send, alert)
            raise

    return load


async def stop(alerts: AsyncAlertSender) -> None:
    """Let queued alerts go out (a bounded wait), then stop the sender."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(alerts.drain(), DRAIN)
    await alerts.close()
