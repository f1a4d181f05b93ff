"""State and helpers shared by the B2BUA's entry points (``core``) and its dialog logic.

Invariants:
- identifiers we mint (tags, branches, Call-IDs) are unique per instance: a random salt
  plus a counter, so no clock is read;
- every call is reachable from ``calls`` (by key), ``legs`` (by Call-ID and our tag) and
  ``invites`` (by the caller's INVITE server-transaction key) until ``end_call`` drops all
  three at once; the calls' transactions then finish on their own timers;
- ``held`` maps a call to leg B's INVITE transaction until the shell reports the call's
  decision durable (``release``); a held INVITE has not reached the wire.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sipguard.b2bua.call import Call, CallState, Side
from sipguard.b2bua.effects import Addr, CallEnded, CancelTimer, Transmit
from sipguard.b2bua.headers import DEFAULT_ALLOW, make_response
from sipguard.b2bua.txs import Transactions, TxEntry
from sipguard.sip.message import Request
from sipguard.sip.timers import TimerConfig
from sipguard.sip.transaction import MAGIC_COOKIE, TxKey
from sipguard.sip.wire import serialise


@dataclass(frozen=True, slots=True)
class B2BUAConfig:
    """Tunables of the call core."""

    local: Addr | None = None  # our address for Via/Contact; default: rules' first listen
    allow_headers: frozenset[str] = DEFAULT_ALLOW
    max_duration: float | None = 4 * 3600.0
    # How long the callee may ring after its last provisional (RFC 3261 Timer C, > 3 min).
    ring_timeout: float | None = 181.0
    max_concurrent: int | None = None
    trunk_cps: dict[str, float] = field(default_factory=dict)
    default_cps: float | None = None
    retry_after: int = 5
    timers: TimerConfig = field(default_factory=TimerConfig)


class Base:
    """Tables and small helpers; see the module docstring."""

    def __init__(self, config: B2BUAConfig, local: Addr) -> None:
        self.config = config
        self.local = local
        self.txs = Transactions(config.timers)
        self.calls: dict[int, Call] = {}
        self.legs: dict[tuple[str, str], tuple[Call, Side]] = {}
        self.invites: dict[TxKey, Call] = {}
        # Leg B's INVITE transaction while its call's decision is being journaled.
        self.held: dict[int, TxEntry] = {}
        self._counter = itertools.count(1)
        self._salt = secrets.token_hex(4)

    def token(self) -> str:
        """A fresh identifier, unique within this instance."""
        return f"{self._salt}{next(self._counter):x}"

    def via(self, transport: str, branch: str | None = None) -> str:
        """Our Via value for a request sent over ``transport``."""
        branch = branch or MAGIC_COOKIE + self.token()
        return f"SIP/2.0/{transport.upper()} {self.hostport()};branch={branch};rport"

    def contact(self, transport: str = "udp") -> str:
        """Our Contact value for a leg on ``transport``."""
        param = "" if transport == "udp" else f";transport={transport}"
        return f"<sip:{self.hostport()}{param}>"

    def hostport(self) -> str:
        """Our host:port as written in Via and Contact."""
        host = self.local.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.local.port}"

    def answer(
        self,
        req: Request,
        source: Addr,
        status: int,
        now: float,
        wall: datetime,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> list[Any]:
        """Answer ``req`` with ``status`` through a new server transaction."""
        entry = self.txs.new_server(req, source)
        out = self.txs.run(entry, entry.tx.receive_request(req, now), now, wall)
        resp = make_response(req, status, self.token(), extra)
        return out + self.txs.run(entry, entry.tx.respond(resp, now), now, wall)

    def respond(
        self, entry: TxEntry | None, status: int, tag: str | None, now: float, wall: datetime
    ) -> list[Any]:
        """Send ``status`` on a server transaction if it still takes responses."""
        if entry is None or entry.tx.terminated:
            return []
        req = entry.tx.request
        if entry.tx.last_response is not None and entry.tx.last_response.status >= 200:
            return []
        return self.txs.run(
            entry, entry.tx.respond(make_response(req, status, tag), now), now, wall
        )

    def send_stateless(self, req: Request, peer: Addr) -> list[Any]:
        """Transmit ``req`` outside any transaction (ACK for a 2xx)."""
        return [Transmit(serialise(req), peer)]

    def register(self, call: Call) -> None:
        """Make ``call`` reachable by key, by each leg's tag and by the caller's INVITE."""
        self.calls[call.key] = call
        self.legs[(call.a.call_id, call.a.tag)] = (call, Side.A)
        self.legs[(call.b.call_id, call.b.tag)] = (call, Side.B)
        self.invites[call.a.invite_tx] = call

    def end_call(self, call: Call, status: int, by: str, wall: datetime) -> list[Any]:
        """Mark ``call`` over, forget it, and report its outcome for the journal."""
        if call.ended:
            return []
        call.state = CallState.ENDED
        self.calls.pop(call.key, None)
        self.legs.pop((call.a.call_id, call.a.tag), None)
        self.legs.pop((call.b.call_id, call.b.tag), None)
        self.invites.pop(call.a.invite_tx, None)
        ended = CallEnded(call.a.call_id, call.answered_at, wall, status, by)
        return [
            CancelTimer(("call", call.key, "max")),
            CancelTimer(("call", call.key, "ring")),
            ended,
        ]
