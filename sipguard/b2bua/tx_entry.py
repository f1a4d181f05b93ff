"""A live transaction of the B2BUA's table, with its peer and its transaction user's handlers.

Invariants:
- an entry is mutable only through ``Transactions`` (``b2bua/transactions.py``), which keeps
  it in its tables while the transaction is live and forgets it when it ends or settles;
- ``answered`` is True once a server transaction sent a final response or ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sipguard.b2bua.effects import Addr, Effects
from sipguard.sip.message import Message, Response
from sipguard.sip.transaction import Transaction, TxKey

UpHandler = Callable[[Message, float, datetime], Effects]
TimeoutHandler = Callable[[float, datetime], Effects]


@dataclass(slots=True, init=False)
class TxEntry:
    """A live transaction, its peer and what the TU does with its results."""

    id: int
    tx: Transaction
    peer: Addr
    key: TxKey
    on_up: UpHandler | None = None
    on_timeout: TimeoutHandler | None = None
    cancelled: bool = False  # an INVITE client transaction we sent a CANCEL for
    slimmed: bool = False  # its request was cut to the naming fields (``slim``)
    sent: Response | None = None  # the response we last sent (server), or its stand-in
    wire: bytes = b""  # the bytes of that response (server), or of our last ACK (client)
    last_at: float | None = None  # the deadline of its last timer, once armed (``_LAST``)

    def __init__(
        self,
        id: int,
        tx: Transaction,
        peer: Addr,
        key: TxKey,
        on_up: UpHandler | None = None,
        on_timeout: TimeoutHandler | None = None,
        cancelled: bool = False,  # noqa: FBT001, FBT002 (the dataclass fields, in order)
        slimmed: bool = False,  # noqa: FBT001, FBT002
        sent: Response | None = None,
        wire: bytes = b"",
        last_at: float | None = None,
    ) -> None:
        self.id = id
        self.tx = tx
        self.peer = peer
        self.key = key
        self.on_up = on_up
        self.on_timeout = on_timeout
        self.cancelled = cancelled
        self.slimmed = slimmed
        self.sent = sent
        self.wire = wire
        self.last_at = last_at

    @property
    def answered(self) -> bool:
        """True once the (server) transaction is over or has sent a final response."""
        last = self.tx.last_response
        return self.tx.terminated or (last is not None and last.status >= 200)
