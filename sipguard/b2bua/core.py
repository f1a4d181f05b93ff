"""The sans-IO B2BUA: bytes and timers in, effects out (RFC 3261 sections 8.2, 17, 18.2).

Invariants:
- the one entry point for peer bytes is ``on_message``; parse and validation failures are
  answered per ``classify`` (requests get the hinted status, responses and ACKs are
  dropped) and never raise;
- a request first goes to the server transaction it matches (absorbing retransmissions);
  only unmatched requests reach the TU: ACK of a 2xx, CANCEL, in-dialog requests (To tag),
  initial INVITEs, and OPTIONS for ourselves;
- a response goes to the client transaction it matches; a 2xx that outlived its
  transaction is ACKed again from the call; anything else is dropped;
- ``reload`` swaps the ruleset for new calls only: a call keeps the target it got;
- time is always an argument; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any

from sipguard.b2bua.base import B2BUAConfig
from sipguard.b2bua.effects import Addr, Transmit
from sipguard.b2bua.headers import ALLOW_METHODS, KNOWN_METHODS, error_response
from sipguard.b2bua.overload import Overload
from sipguard.b2bua.relay import Relay
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import MemoryState, State
from sipguard.sip.message import Request, Response
from sipguard.sip.transaction import client_key, server_key
from sipguard.sip.validate import classify


def _trunk_cps(config: B2BUAConfig, rules: Ruleset) -> dict[str, float]:
    """Per-trunk call-rate limits: the rules' ``max_cps`` over the configured defaults."""
    return {**config.trunk_cps, **rules.trunk_cps}


def _listen_addr(rules: Ruleset) -> Addr:
    """Our address from the rules' first ``listen`` entry (default 127.0.0.1:5060)."""
    text = rules.listen[0] if rules.listen else "127.0.0.1:5060"
    host, _, port = text.rpartition(":")
    return Addr(host.strip("[]"), int(port))


class B2BUA(Relay):
    """The call core; see the module docstring.  Drive it with ``on_message``/``on_timer``."""

    def __init__(
        self,
        rules: Ruleset,
        state: State | None = None,
        config: B2BUAConfig | None = None,
    ) -> None:
        config = config or B2BUAConfig()
        super().__init__(config, config.local or _listen_addr(rules))
        self.rules = rules
        self.state = state if state is not None else MemoryState()
        self.journal_ok = True
        self.overload = Overload(
            config.max_concurrent, _trunk_cps(config, rules), config.default_cps, config.retry_after
        )

    @property
    def active_calls(self) -> int:
        """Calls in progress (set up or being set up)."""
        return len(self.calls)

    @property
    def transactions(self) -> int:
        """Live transactions on both legs."""
        return len(self.txs)

    def reload(self, rules: Ruleset) -> None:
        """Use ``rules`` for every call from now on; calls in progress are untouched."""
        self.rules = rules
        self.overload.set_rates(_trunk_cps(self.config, rules))

    def on_message(self, data: bytes, source: Addr, now: float, wall: datetime) -> list[Any]:
        """Handle one datagram or framed stream message from ``source``."""
        outcome = classify(data)
        if outcome.action == "drop":
            return []
        if outcome.action == "reply":
            if data.lstrip(b"\r\n").startswith(b"ACK ") or outcome.status is None:
                return []
            raw = error_response(data, outcome.status)
            return [Transmit(raw, source)] if raw is not None else []
        msg = outcome.message
        if isinstance(msg, Response):
            return self._response(msg, now, wall)
        assert isinstance(msg, Request)
        return self._request(msg, source, now, wall)

    def on_timer(self, key: Hashable, now: float, wall: datetime) -> list[Any]:
        """A timer the core started came due."""
        if not isinstance(key, tuple) or len(key) != 3:
            return []
        kind, ident, name = key
        if kind == "tx":
            return self.txs.fire(ident, name, now, wall)
        if kind == "call" and name == "max":
            return self.on_max_duration(ident, now, wall)
        if kind == "call" and name == "ring":
            return self.on_ring_timeout(ident, now, wall)
        return []

    def _request(self, req: Request, source: Addr, now: float, wall: datetime) -> list[Any]:
        entry = self.txs.server.get(server_key(req))
        if entry is not None:
            return self.txs.run(entry, entry.tx.receive_request(req, now), now, wall)
        if req.method == "ACK":
            return self.on_ack(req, now, wall)
        if req.method == "CANCEL":
            return self.on_cancel(req, source, now, wall)
        if req.to.tag:
            return self.in_dialog(req, source, now, wall)
        if req.method == "INVITE":
            return self.initial_invite(req, source, now, wall)
        allow = (("Allow", ALLOW_METHODS),)
        if req.method == "OPTIONS":
            return self.answer(req, source, 200, now, wall, allow)
        status = 405 if req.method in KNOWN_METHODS else 501
        return self.answer(req, source, status, now, wall, allow)

    def _response(self, resp: Response, now: float, wall: datetime) -> list[Any]:
        entry = self.txs.client.get(client_key(resp))
        if entry is not None:
            return self.txs.run(entry, entry.tx.receive_response(resp, now), now, wall)
        if resp.cseq.method != "INVITE" or not 200 <= resp.status < 300:
            return []
        found = self.legs.get((resp.call_id, resp.from_.tag or ""))
        if found is None or found[0].b_ack is None:
            return []
        call = found[0]
        return self.send_stateless(call.b_ack, call.b.peer) if call.b_ack else []
