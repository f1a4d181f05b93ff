"""RedisState: the policy's State on Redis, for several nodes sharing one set of counts.

Invariants:
- Every read-modify-write is one Lua script, which Redis runs atomically, so any number of
  nodes and processes never count past a limit.
- Keys are ``<prefix>calls:<operator>:<callee>:<day>`` (expires after ``count_ttl``),
  ``<prefix>viol:<number>`` (a sorted set scored by microseconds, expires after the
  window; each member ``US.NS:SEQ`` also names the nanoseconds below its microsecond)
  and ``<prefix>susp:<number>`` (JSON, no expiry) indexed by the set ``<prefix>suspended``.
- Times come in as aware datetimes; nothing here reads a clock.  The violation window is
  compared in exact nanoseconds: a score (a double) holds microseconds exactly, and the
  script compares the nanoseconds of the members whose microsecond is the window's edge.
- Durability is Redis's own (AOF/RDB as configured); the journal stays in SQLite.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sipguard.journal.entries import to_ts
from sipguard.policy.instant import epoch_ns, window_ns
from sipguard.policy.state import Suspension

if TYPE_CHECKING:
    import redis

_TAKE_SLOT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if limit >= 0 and n >= limit then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
_ADD_VIOLATION = """
local function ns(member)
  return tonumber(string.match(member, '^%d+%.(%d+):') or '0')
end
local now_us, now_ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local floor_us, floor_ns = tonumber(ARGV[3]), tonumber(ARGV[4])
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], now_us, ARGV[1] .. '.' .. ARGV[2] .. ':' .. seq)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3])) do
  if ns(m) <= floor_ns then redis.call('ZREM', KEYS[1], m) end
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
local n = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[1])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
  if ns(m) <= now_ns then n = n + 1 end
end
return n
"""
_SUSPEND = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SADD', KEYS[2], ARGV[2])
end
return 1
"""
_RESUME = """
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[1])
"""


class RedisState:
    """Implements :class:`sipguard.policy.state.State` on a Redis server."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "sipguard:",
        count_ttl: timedelta = timedelta(days=3),
    ) -> None:
        self._r = client
        self._prefix = prefix
        self._ttl = int(count_ttl.total_seconds())
        self._take = client.register_script(_TAKE_SLOT)
        self._violate = client.register_script(_ADD_VIOLATION)
        self._suspend = client.register_script(_SUSPEND)
        self._resume = client.register_script(_RESUME)

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "sipguard:", count_ttl: timedelta = timedelta(days=3)
    ) -> RedisState:
        """Connect to ``redis://host:port/db``."""
        import redis

        return cls(redis.Redis.from_url(url), prefix=prefix, count_ttl=count_ttl)

    def _calls_key(self, operator: str, callee: str, day: date) -> str:
        return f"{self._prefix}calls:{operator}:{callee}:{day.isoformat()}"

    def take_call_slot(self, operator: str, callee: str, day: date, limit: int | None) -> bool:
        """Count one allowed call unless ``limit`` calls are already counted (atomic)."""
        key = self._calls_key(operator, callee, day)
        cap = -1 if limit is None else limit
        return bool(self._take(keys=[key], args=[cap, self._ttl]))

    def calls_on(self, operator: str, callee: str, day: date) -> int:
        """How many allowed calls are counted for (operator, callee, day)."""
        value = self._r.get(self._calls_key(operator, callee, day))
        return int(value) if value is not None else 0

    def add_violation(self, number: str, at: datetime, window: timedelta) -> int:
        """Record a counted rejection; return how many fall within ``(at - window, at]``,
        compared in exact nanoseconds."""
        keys = [f"{self._prefix}viol:{number}", f"{self._prefix}violseq"]
        ttl_ms = max(1, int(window.total_seconds() * 1000) + 1)
        now = epoch_ns(at)
        now_us, now_ns = divmod(now, 1000)
        floor_us, floor_ns = divmod(now - window_ns(window), 1000)
        args = [now_us, now_ns, floor_us, floor_ns, ttl_ms]
        return int(self._violate(keys=keys, args=args))

    def suspension(self, number: str) -> Suspension | None:
        """The number's current suspension, or None."""
        raw = self._r.get(f"{self._prefix}susp:{number}")
        return _decode(raw) if raw is not None else None

    def suspend(self, number: str, since: datetime, reason: str, by: str) -> None:
        """Suspend ``number`` (an existing suspension stays as it is)."""
        value = json.dumps({"number": number, "since": since.isoformat(), "reason": reason,
                            "by": by})  # fmt: skip
        keys = [f"{self._prefix}susp:{number}", f"{self._prefix}suspended"]
        self._suspend(keys=keys, args=[value, number])

    def resume(self, number: str) -> bool:
        """End a suspension and forget the number's violations; False if none was in force."""
        keys = [
            f"{self._prefix}susp:{number}",
            f"{self._prefix}viol:{number}",
            f"{self._prefix}suspended",
        ]
        return bool(self._resume(keys=keys, args=[number]))

    def suspensions(self) -> list[Suspension]:
        """Every suspension in force, oldest first."""
        numbers = sorted(self._r.smembers(f"{self._prefix}suspended"))
        if not numbers:
            return []
        raws = self._r.mget([f"{self._prefix}susp:{_text(n)}" for n in numbers])
        found = [_decode(raw) for raw in raws if raw is not None]
        return sorted(found, key=lambda s: (s.since, s.number))

    # Behavioural limits (rules 1.1 section 5): two sorted sets per number, each expiring
    # with its window, so idle numbers leave nothing behind.
    def calls_since(self, number: str, since: float) -> int:
        """How many allowed calls of ``number`` are recorded after ``since``."""
        return int(self._r.zcount(f"{self._prefix}rate:{number}", f"({since}", "+inf"))

    def callee_seen(self, number: str, callee: str, since: float) -> tuple[bool, int]:
        """Whether ``number`` called ``callee`` after ``since``, and how many distinct callees."""
        key = f"{self._prefix}callees:{number}"
        pipe = self._r.pipeline(transaction=False)
        pipe.zscore(key, callee)
        pipe.zcount(key, f"({since}", "+inf")
        last, distinct = pipe.execute()
        return last is not None and float(last) > since, int(distinct)

    def record_call(self, number: str, callee: str, at: float, keep: float) -> None:
        """Record an allowed call; older members are removed and the sets expire."""
        rate, callees = f"{self._prefix}rate:{number}", f"{self._prefix}callees:{number}"
        ttl = max(1, int(keep) + 1)
        pipe = self._r.pipeline(transaction=True)
        pipe.zadd(rate, {f"{at!r}:{self._r_seq()}": at})
        pipe.zadd(callees, {callee: at})
        for key in (rate, callees):
            pipe.zremrangebyscore(key, "-inf", at - keep)
            pipe.expire(key, ttl)
        pipe.execute()

    def _r_seq(self) -> int:
        return int(self._r.incr(f"{self._prefix}callseq"))

    def record_outcome(self, number: str, *, short: bool, keep: int) -> tuple[int, int]:
        """Record an answered call's end in a list trimmed to the last ``keep``."""
        key = f"{self._prefix}outcomes:{number}"
        pipe = self._r.pipeline(transaction=True)
        pipe.lpush(key, int(short))
        pipe.ltrim(key, 0, keep - 1)
        pipe.lrange(key, 0, -1)
        last = pipe.execute()[-1]
        return len(last), sum(int(v) for v in last)

    # rules 1.1 section 3: inbound calls that are up, a sorted set of call ids by start
    # time per (caller, number), and each call's pair; both expire a day after the start.
    def inbound_started(self, call_id: str, caller: str, number: str, at: datetime) -> None:
        """Record an allowed inbound call that is being set up."""
        pair = f"{self._prefix}inbound:{caller}:{number}"
        pipe = self._r.pipeline(transaction=True)
        pipe.zadd(pair, {call_id: to_ts(at)})
        pipe.expire(pair, 86400)
        pipe.set(f"{self._prefix}inbound-call:{call_id}", pair, ex=86400)
        pipe.execute()

    def inbound_ended(self, call_id: str) -> None:
        """Forget an inbound call that ended."""
        key = f"{self._prefix}inbound-call:{call_id}"
        pair = self._r.get(key)
        if pair is not None:
            self._r.zrem(_text(pair), call_id)
            self._r.delete(key)

    def inbound_up(self, caller: str, number: str, since: datetime) -> bool:
        """True when such a call started at ``since`` or later and has not ended."""
        pair = f"{self._prefix}inbound:{caller}:{number}"
        return int(self._r.zcount(pair, to_ts(since), "+inf")) > 0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw: bytes | str) -> Suspension:
    data = json.loads(raw)
    return Suspension(data["number"], datetime.fromisoformat(data["since"]), data["reason"],
                      data["by"])  # fmt: skip
