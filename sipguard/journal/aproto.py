"""The socket side of the asyncio journal client: the event loop's reader callbacks.

``asyncio.Protocol`` is a class mypyc cannot compile a subclass of, so this shell stays
interpreted and hands everything to the compiled client (``aclient``).

Invariants:
- Each read is split into whole reply frames; each reply is settled in order, then the
  client's counts are published once for the read.
- A frame that breaks the protocol ends the connection as a lost one would: the client
  fails every request in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from sipguard.journal.wire import FrameReader, ProtocolError


class Settling(Protocol):
    """What the reader callbacks call on the client."""

    def settle(self, reply: list[Any]) -> None: ...

    def publish(self) -> None: ...

    def lost(self, exc: BaseException | None) -> None: ...


class ReplyReader(asyncio.Protocol):
    """Feeds the service's replies to ``client``."""

    def __init__(self, client: Settling) -> None:
        self.client = client
        self.reader = FrameReader()

    def data_received(self, data: bytes) -> None:
        try:
            replies = self.reader.feed(data)
        except ProtocolError as exc:
            self.client.lost(exc)
            return
        for reply in replies:
            self.client.settle(reply)
        self.client.publish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(exc)
