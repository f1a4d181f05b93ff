"""The asyncio client of the journal service, for ``sipguard serve``: no thread, no blocking.

Invariants:
- The socket is driven by the event loop's own reader callbacks (``aproto.ReplyReader``,
  an asyncio Protocol, which stays interpreted: this module is compiled); requests made
  during one loop pass are written together, once, at its end.
- What no answer waits for (call outcomes, state ops that want no reply) is written at the
  latest ``LAZY_FLUSH`` seconds later, or with the next urgent request, whichever is first:
  fewer writes here, larger group commits in the service.  Order is kept either way.
- ``submit(entry)`` keeps the writer's contract: a future resolved with the stored entry
  once the service acked it durable, or failed with :class:`JournalUnavailable`.  Requests
  go out in call order on one connection, so a state op sent before an entry is committed
  no later than that entry.
- ``submit_then(entry, done, arg)`` is the same request without a future: ``done(arg,
  stored)`` is called from the reply itself, with the stored entry or None when the write
  failed (or the connection was lost), exactly once, and the answer it releases leaves
  with no extra loop turn.  An exception in ``done`` is logged and never reaches the
  connection.
- The queue-depth gauge and the records counter are moved once per read from the socket
  (``publish``), by the replies it settled: between loop turns they read as if each reply
  were counted on its own.
- ``healthy`` is False while not connected and after a failed commit, until a later ack
  succeeds; the metric follows.  A lost connection fails every request in flight at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from sipguard import metrics
from sipguard.journal.aproto import ReplyReader
from sipguard.journal.record import Entry, Kind
from sipguard.journal.wire import Op, entry_body, frame, stored
from sipguard.journal.writer import JournalUnavailable

_log = structlog.get_logger("sipguard.journal")
LAZY_FLUSH = 0.02
T = TypeVar("T")
#: A request in flight: its entry (None for a state op), and either ``(None, future)`` or
#: ``(done, arg)``, answered by ``done(arg, stored entry or None)``.
_Pending = tuple[Entry | None, Callable[[Any, Any], None] | None, Any]


class AsyncJournalClient:
    """Submits entries and state ops to the service at ``socket_path``."""

    def __init__(self, socket_path: str | Path) -> None:
        self.path = Path(socket_path)
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, _Pending] = {}
        self._out: list[bytes] = []
        self._next = 0
        self._failed = False
        self._flush_at: asyncio.Handle | None = None
        self._flush_lazy = False  # the scheduled flush is the late one
        self._closing = False
        self._answered = 0  # replies settled, not yet taken off the queue-depth gauge
        self._records = 0  # entries acked durable, not yet counted in JOURNAL_RECORDS

    @property
    def connected(self) -> bool:
        """True while a connection to the service is open."""
        return self._transport is not None

    @property
    def healthy(self) -> bool:
        """Connected, and the last commit that answered succeeded."""
        return self._transport is not None and not self._failed

    async def connect(self) -> None:
        """Open the connection (JournalUnavailable if the service does not answer)."""
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_unix_connection(
                lambda: ReplyReader(self), str(self.path)
            )
        except OSError as exc:
            raise JournalUnavailable(f"journal service not reachable: {exc}", "down") from exc
        self._transport = transport
        self._failed = self._closing = False
        metrics.JOURNAL_HEALTHY.set(1)

    def submit(self, entry: Entry) -> asyncio.Future[Entry | None]:
        """Send ``entry``; the future resolves with the stored entry once it is durable.

        An outcome gates no answer, so it waits for the next write (see the module header).
        """
        urgent = entry.kind != Kind.OUTCOME.value
        return self._request(entry, [Op.APPEND.value, entry_body(entry)], urgent=urgent)

    def submit_then(self, entry: Entry, done: Callable[[T, Entry | None], None], arg: T) -> None:
        """Send ``entry``; ``done(arg, stored)`` once it is durable (None: it failed).

        The plain ``submit`` without its future (see the module header).
        """
        if self._transport is None:  # answered on the next turn, as a failed future would be
            asyncio.get_running_loop().call_soon(self._call, done, arg, None)
            return
        urgent = entry.kind != Kind.OUTCOME.value
        self._send([Op.APPEND.value, entry_body(entry)], (entry, done, arg), urgent=urgent)

    def submit_state(self, op: list[Any]) -> asyncio.Future[Any]:
        """Send a state mutation (applied in order, acked once durable)."""
        return self._request(None, [Op.PUT.value, op])

    def tell_state(self, op: list[Any]) -> bool:
        """Send a state mutation that wants no answer; False if not connected.

        It is committed no later than the next entry sent, whose ack therefore covers it.
        """
        if self._transport is None:
            return False
        self._queue(frame([0, Op.DO.value, op]), urgent=False)
        return True

    def sync(self) -> asyncio.Future[Any]:
        """A future that completes once everything sent before is durable."""
        return self._request(None, [Op.SYNC.value])

    def _request(
        self, entry: Entry | None, body: list[Any], *, urgent: bool = True
    ) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._transport is None:
            fut.set_exception(JournalUnavailable("journal service is not connected", "down"))
            return fut
        self._send(body, (entry, None, fut), urgent=urgent)
        return fut

    def _send(self, body: list[Any], pending: _Pending, *, urgent: bool) -> None:
        self._next += 1
        self._pending[self._next] = pending
        self._queue(frame([self._next, *body]), urgent=urgent)
        metrics.JOURNAL_QUEUE_DEPTH.inc()

    def _queue(self, data: bytes, *, urgent: bool) -> None:
        self._out.append(data)
        if urgent and self._flush_lazy and self._flush_at is not None:
            self._flush_at.cancel()  # the late write goes now, with this one
            self._flush_at = None
        if self._flush_at is None:
            loop = asyncio.get_running_loop()
            self._flush_lazy = not urgent
            self._flush_at = (
                loop.call_soon(self._flush) if urgent else loop.call_later(LAZY_FLUSH, self._flush)
            )

    def _flush(self) -> None:
        self._flush_at = None
        self._flush_lazy = False
        out, self._out = self._out, []
        if self._transport is not None and out:
            self._transport.write(b"".join(out))

    def settle(self, reply: list[Any]) -> None:
        """Resolve the request ``reply`` answers (or take a commit's statistics)."""
        if reply[0] == 0 and len(reply) == 4 and reply[1] == "stats":
            metrics.JOURNAL_BATCH_SIZE.observe(reply[2])
            metrics.JOURNAL_COMMIT_SECONDS.observe(reply[3])
            return
        pending = self._pending.pop(reply[0], None) if reply else None
        if pending is None:
            return
        self._answered += 1
        entry, done, arg = pending
        if reply[1] != "ok":
            kind = str(reply[2]) if len(reply) > 2 else "internal"
            self._set_failed(failed=True)
            metrics.JOURNAL_WRITE_FAILURES.labels(error=kind).inc()
            detail = reply[3] if len(reply) > 3 else ""
            self._fail(pending, JournalUnavailable(f"journal write failed: {detail}", kind))
            return
        self._set_failed(failed=False)
        if entry is None:
            result = reply[2] if len(reply) > 2 else None
        else:
            self._records += 1
            result = stored(entry, int(reply[2]), str(reply[3]), str(reply[4]))
        if done is not None:
            self._call(done, arg, result)
        elif not arg.done():
            arg.set_result(result)

    def _fail(self, pending: _Pending, exc: Exception) -> None:
        _, done, arg = pending
        if done is not None:
            self._call(done, arg, None)
        elif not arg.done():
            arg.set_exception(exc)

    @staticmethod
    def _call(done: Callable[[T, Any], None], arg: T, result: object) -> None:
        try:
            done(arg, result)
        except Exception:  # a failing callback must not break the connection
            _log.exception("journal.callback_failed")

    def publish(self) -> None:
        """Move the counts of the replies settled since the last call into the metrics: once
        per read from the socket, the same totals as counting each reply as it came."""
        if self._answered:
            metrics.JOURNAL_QUEUE_DEPTH.dec(self._answered)
            self._answered = 0
        if self._records:
            metrics.JOURNAL_RECORDS.inc(self._records)
            self._records = 0

    def _set_failed(self, *, failed: bool) -> None:
        if failed != self._failed:
            self._failed = failed
            metrics.JOURNAL_HEALTHY.set(int(not failed))

    def lost(self, exc: BaseException | None) -> None:
        """The connection ended: fail everything in flight, health goes False."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            if not self._closing:
                _log.error("journal.service_lost", detail=str(exc) if exc else "closed")
        metrics.JOURNAL_HEALTHY.set(0)
        self.publish()
        pending, self._pending = self._pending, {}
        self._out = []
        for request in pending.values():
            metrics.JOURNAL_QUEUE_DEPTH.dec()
            self._fail(request, JournalUnavailable("journal service connection lost", "down"))

    def close(self) -> None:
        """Send what is queued and close the connection."""
        self._closing = True
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush()
        if self._transport is not None:
            self._transport.close()
