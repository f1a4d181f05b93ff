"""The journal service as ``sipguard serve`` runs it: a supervised child and its client.

Invariants:
- :class:`ServiceJournal` is what the server's journal gate holds: ``submit`` (and its
  future-free form ``submit_then``), ``healthy`` and ``close``, with the writer's contract
  (see ``aclient``).
- :meth:`ServiceJournal.supervise` watches the child: if it exits or the connection drops,
  health is False at once (requests in flight fail, so an allowed outbound call is refused
  with 503 as with any journal failure), the death is logged at ``critical``, and the
  service is started again and reconnected, with a growing pause between tries (capped).
- While the service runs but its last commit failed (a full disk, say), a probe record is
  tried every :data:`PROBE_EVERY` seconds, one at a time: the admin entry
  ``journal_recovered``, which is on record only once the journal writes again.  So health
  comes back by itself, however quiet the edge, and the gap is visible in the journal.
- With a ``probe`` (a PostgreSQL journal), the database is asked too: while the service
  runs but its last commit failed, the probe asks the database every ``every`` seconds;
  once it answers, a ``sync`` through the service clears the failure, so outbound calls
  (refused with 503 meanwhile, which writes nothing) are admitted again with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog

from sipguard import metrics
from sipguard.journal.aclient import AsyncJournalClient
from sipguard.journal.entries import admin_entry
from sipguard.journal.launch import ALREADY_RUNNING, answers
from sipguard.journal.record import Entry
from sipguard.journal.writer import JournalUnavailable

_log = structlog.get_logger("sipguard.journal")
T = TypeVar("T")
PROBE_EVERY = 2.0  # seconds between probe records while the journal cannot write


class ServiceJournal:
    """Starts, supervises and talks to one journal service process."""

    def __init__(
        self, argv: list[str], socket_path: Path, *, start_timeout: float = 15.0,
        probe: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:  # fmt: skip
        self.argv = argv
        self.path = socket_path
        self.client = AsyncJournalClient(socket_path)
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._timeout = start_timeout
        self._closed = False
        self._probe = probe
        self.probes = 0  # probe records tried
        self._probing: asyncio.Future[Entry | None] | None = None
        self._probe_at = 0.0
        self._failed_since: datetime | None = None

    @property
    def healthy(self) -> bool:
        """True while the service runs, is connected and its last commit succeeded."""
        return self.client.healthy and self._running()

    def submit(self, entry: Entry) -> asyncio.Future[Entry | None]:
        """Send ``entry``; the future resolves once it is durable (see ``aclient``)."""
        return self.client.submit(entry)

    def submit_then(self, entry: Entry, done: Callable[[T, Entry | None], None], arg: T) -> None:
        """Send ``entry``; ``done(arg, stored)`` once durable, None if not (see ``aclient``)."""
        self.client.submit_then(entry, done, arg)

    def submit_state(self, op: list[Any]) -> asyncio.Future[Any]:
        """Send a state mutation, in order with the entries; acked once durable."""
        return self.client.submit_state(op)

    def tell_state(self, op: list[Any]) -> bool:
        """Send a state mutation, in order with the entries, wanting no answer."""
        return self.client.tell_state(op)

    async def start(self) -> None:
        """Start the service and connect (JournalUnavailable if it does not come up)."""
        self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self._timeout
        while not answers(self.path):
            code = self._proc.poll()
            if (code is not None and code != ALREADY_RUNNING) or time.monotonic() > deadline:
                raise JournalUnavailable(f"journal service did not start ({code})", "down")
            await asyncio.sleep(0.02)
        await self.client.connect()

    async def supervise(self, every: float = 0.25, pause_max: float = 5.0) -> None:
        """Restart the service whenever it dies or the connection drops (until closed)."""
        pause = every
        while not self._closed:
            await asyncio.sleep(pause)
            if self.client.connected and self._running():  # a failed commit is no reason
                pause = every
                await self._recheck()
                self.probe()
                continue
            metrics.JOURNAL_HEALTHY.set(0)
            _log.critical("journal.service_down", code=self._code(), restarts=self.restarts)
            try:
                await self._restart()
            except JournalUnavailable as exc:
                _log.error("journal.service_restart_failed", detail=str(exc))
                pause = min(pause_max, pause * 2)
                continue
            pause = every

    async def _recheck(self) -> None:
        """After a failed commit, clear the failure once the probe finds the store back."""
        if self._probe is None or self.client.healthy or not await self._probe():
            return
        with contextlib.suppress(JournalUnavailable):
            await self.client.sync()
            _log.warning("journal.store_back")

    def probe(self, every: float = PROBE_EVERY) -> None:
        """While connected but failing, try one probe record if none is out and it is time."""
        if self.client.healthy or not self.client.connected:
            self._failed_since = None if self.client.healthy else self._failed_since
            return
        now = time.monotonic()
        if self._probing is not None or now < self._probe_at:
            return
        self._probe_at = now + every
        if self._failed_since is None:
            self._failed_since = datetime.now(UTC)
        detail = {"failing_since": self._failed_since.isoformat()}
        self.probes += 1
        self._probing = self.client.submit(admin_entry("journal_recovered", datetime.now(UTC),
                                                       detail=detail))  # fmt: skip
        self._probing.add_done_callback(self._probed)

    def _probed(self, fut: asyncio.Future[Entry | None]) -> None:
        self._probing = None
        if fut.cancelled() or fut.exception() is not None:
            return  # still failing (the client counted it); the next probe comes later
        _log.warning("journal.probe_recovered", failing_since=str(self._failed_since))
        self._failed_since = None

    def _running(self) -> bool:
        """Our child runs, or it left at once because another service has this journal."""
        if self._proc is None:
            return False
        code = self._proc.poll()
        return code is None or code == ALREADY_RUNNING

    def _code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    async def _restart(self) -> None:
        self.client.lost(None)
        if self._running():
            if answers(self.path):
                await self.client.connect()
                return
            self._stop_child(2.0)
        self.restarts += 1
        metrics.JOURNAL_SERVICE_RESTARTS.inc()
        await self.start()
        _log.warning("journal.service_restarted", restarts=self.restarts)

    def _stop_child(self, timeout: float) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Close the connection and stop the service (it commits what it holds first)."""
        self._closed = True
        self.client.close()
        self._stop_child(timeout)
