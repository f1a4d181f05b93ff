"""The journal service's Unix socket: its connections, and serving until stopped.

Invariants:
- One :class:`_Conn` per client; the frames of each read go to
  :meth:`JournalService.received` together, in the order they arrived.  A malformed frame
  closes only its connection, logged.
- The socket is the user's alone (mode 0600): only this user may write records.
- :func:`serve` stops on SIGTERM (and SIGINT, unless it follows a ``watch_pid``) or when
  the watched process is gone, and commits what the service holds before it returns.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import structlog

from sipguard.journal.service import JournalService
from sipguard.journal.wire import FrameReader, ProtocolError

__all__ = ["serve"]
_log = structlog.get_logger("sipguard.journal.service")


class _Conn(asyncio.Protocol):
    """One client connection."""

    def __init__(self, service: JournalService) -> None:
        self.service = service
        self.reader = FrameReader()
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.reader.feed(data)
        except ProtocolError as exc:
            _log.warning("journal_service.bad_frame", detail=str(exc))
            self.close()
            return
        if messages:
            self.service.received(self, messages)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.service.pacer.forget(self)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve(service: JournalService, socket_path: Path, watch_pid: int | None) -> None:
    """Listen on ``socket_path`` until stopped, then commit what is left."""
    loop = asyncio.get_running_loop()
    socket_path.unlink(missing_ok=True)
    server = await loop.create_unix_server(lambda: _Conn(service), str(socket_path))
    os.chmod(socket_path, 0o600)  # only this user may write records
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # A Ctrl-C reaches the whole process group: a service that follows its starter leaves
    # when the starter is gone (or tells it to), so the starter can drain first.
    loop.add_signal_handler(signal.SIGINT, (lambda: None) if watch_pid else stop.set)
    house = loop.create_task(service.housekeeping(watch_pid, stop))
    _log.info("journal_service.ready", socket=str(socket_path), pid=os.getpid())
    await stop.wait()
    house.cancel()
    server.close()
    await asyncio.sleep(0)
    service.commit()
    socket_path.unlink(missing_ok=True)
    _log.info("journal_service.stopped")
