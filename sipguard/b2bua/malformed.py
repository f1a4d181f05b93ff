"""INVITEs from listed peers that fail validation: kept on record as malformed attempts.

Invariants:
- only an INVITE (by its start line) from a source in a peer list is recorded; the answer
  (400 and the like) is sent as before, statelessly, and is not held for the record;
- at most ``per_minute`` records per source and minute (``suppressed`` counts the rest), so
  a broken or hostile peer cannot fill the journal; the table is cleared every minute;
- pure: time comes in as ``now``; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.b2bua.effects import Addr, Malformed
from sipguard.b2bua.headers import raw_fields
from sipguard.policy.ruleset import Ruleset
from sipguard.sip.headers import canonical
from sipguard.sip.message import Message


def _call_id(data: bytes, msg: Message | None) -> str | None:
    if msg is not None:
        value = msg.headers.get("call-id")
        return value.strip() if value else None
    found = raw_fields(data)
    if found is None:
        return None
    values = [v for n, v in found[1] if canonical(n) == "call-id"]
    return values[0][:256] if values else None


class MalformedLog:
    """Turns a refused INVITE from a listed peer into a ``Malformed`` effect, a few a minute."""

    def __init__(self, per_minute: int = 60) -> None:
        self.per_minute = per_minute
        self.suppressed = 0
        self._counts: dict[str, int] = {}
        self._minute = -1

    def record(
        self,
        data: bytes,
        msg: Message | None,
        status: int,
        error: str,
        source: Addr,
        rules: Ruleset,
        now: float,
        wall: datetime,
    ) -> list[Malformed]:
        """The record of this refused message, if it is one to keep."""
        if not data.lstrip(b"\r\n").startswith(b"INVITE "):
            return []
        direction, trunk = rules.classify_source(source.host)
        if direction is None:
            return []
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._counts = minute, {}
        seen = self._counts.get(source.host, 0)
        if seen >= self.per_minute:
            self.suppressed += 1
            return []
        self._counts[source.host] = seen + 1
        call_id = _call_id(data, msg)
        return [Malformed(source, direction, trunk, status, error, wall, call_id)]
