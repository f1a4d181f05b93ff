"""The compiled, read-only form of a rules file that ``evaluate`` works from.

Invariants:
- Everything ``evaluate`` needs per call is precomputed here: the quiet-hours minute table,
  per-trunk operators, the number and consent indexes, limits and the violation window.
- ``classify_source`` (rules spec section 3) probes an exact-address dict first and then one
  dict per CIDR prefix length, so its cost does not grow with the number of trunks.  Peers
  never overlap (``load.py`` rejects that), so at most one owner matches.
- IPv4-mapped IPv6 sources (``::ffff:a.b.c.d``) are classified as their IPv4 address.
- ``LocalClock`` memoises epoch seconds and the local date and minute per wall minute of
  ``now`` only where that is exact, so it always agrees with ``datetime.timestamp`` and
  ``datetime.astimezone``; ``nsn`` always agrees with ``numbers.normalise``, and
  ``callee_nsn`` is ``nsn`` after ``strip_carrier_prefix``; ``callers`` is ``callers.py``'s memo.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sipguard.policy.consents import ConsentIndex
from sipguard.policy.facts import Direction, Reason
from sipguard.policy.model import Rules
from sipguard.policy.numbers import NumberIndex, nsn_function, strip_carrier_prefix
from sipguard.policy.values import parse_duration, parse_time_range, resolve_state_url
from sipguard.sighting import SecondSighting

if TYPE_CHECKING:
    from sipguard.policy.callers import CallerKey, Resolved

Owner = tuple[Direction | None, str | None]
_UNKNOWN: Owner = (None, None)
_CACHE_LIMIT = 65536
#: (proleptic ordinal, minute of the day, date) of an instant in the rules' zone.
LocalMinute = tuple[int, int, date]
_EPOCH_NAIVE = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_REST_OF_MINUTE = timedelta(seconds=59, microseconds=999999)
_MEMO_FROM, _MEMO_TO = 2**30, 2**32  # epoch seconds: 2004-01-10 to 2106-02-07


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved ``deliver_to`` URI: where a call is sent next."""

    uri: str
    host: str
    port: int
    transport: str


def parse_target(uri: str) -> Target:
    """Resolve a ``sip:``/``sips:`` URI into host, port (5060/5061) and transport."""
    scheme, _, rest = uri.partition(":")
    secure = scheme.lower() == "sips"
    hostport, *params = rest.split(";")
    hostport = hostport.rsplit("@", 1)[-1]
    transport = "tls" if secure else "udp"
    for param in params:
        name, _, value = param.partition("=")
        if name.lower() == "transport" and value:
            transport = value.lower()
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    port = int(port_text) if port_text.isdigit() else (5061 if secure else 5060)
    return Target(uri=uri, host=host, port=port, transport=transport)


class SourceMap:
    """Source address -> (direction, trunk id) for every trunk and network peer."""

    __slots__ = ("_by_length", "_cache", "_exact")

    def __init__(self, owners: list[tuple[str, Owner]]) -> None:
        self._exact: dict[str, Owner] = {}
        self._by_length: list[tuple[int, int, dict[int, Owner]]] = []
        self._cache: dict[str, Owner] = {}
        tables: dict[tuple[int, int], dict[int, Owner]] = {}
        for peer, owner in owners:
            net = ipaddress.ip_network(peer, strict=False)
            if net.prefixlen == net.max_prefixlen:
                self._exact[str(net.network_address)] = owner
            else:
                table = tables.setdefault((net.version, net.prefixlen), {})
                table[int(net.network_address)] = owner
        for (version, length), table in sorted(tables.items(), key=lambda kv: -kv[0][1]):
            width = 32 if version == 4 else 128
            mask = ((1 << length) - 1) << (width - length)
            self._by_length.append((version, mask, table))

    def classify(self, ip: str) -> Owner:
        """The owner of source address ``ip``, or ``(None, None)`` for an unknown source."""
        owner = self._exact.get(ip) or self._cache.get(ip)
        if owner is not None:
            return owner
        owner = self._slow(ip)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[ip] = owner
        return owner

    def _slow(self, ip: str) -> Owner:
        try:
            addr = ipaddress.ip_address(ip.strip("[]").split("%", 1)[0])
        except ValueError:
            return _UNKNOWN
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        owner = self._exact.get(str(addr))
        if owner is not None:
            return owner
        value = int(addr)
        for version, mask, table in self._by_length:
            if version == addr.version:
                found = table.get(value & mask)
                if found is not None:
                    return found
        return _UNKNOWN


class LocalClock:
    """Epoch seconds and local date and minute of an instant, memoised per wall minute.

    The memo key is ``now``'s own wall minute and UTC offset, which fix the epoch second
    ``base`` the minute starts at.  A key is memoised only when ``base`` lies within years
    2004-2106 (where ``base + seconds`` rounds exactly as ``timestamp()`` does) and the
    whole minute falls in one local minute of the zone with one offset; the answer is then
    exactly ``now.timestamp()`` and ``now.astimezone(zone)``'s.
    """

    __slots__ = ("_memo", "zone")

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._memo: dict[tuple[int, int, int, timedelta | None], tuple[int, LocalMinute]] = {}

    def at(self, now: datetime) -> tuple[float, LocalMinute]:
        """``now.timestamp()`` and the local (ordinal, minute of day, date) of aware ``now``."""
        key = (now.toordinal(), now.hour, now.minute, now.utcoffset())
        found = self._memo.get(key)
        if found is None:
            return self._convert(now, key)
        base, local = found
        return base + now.second + now.microsecond / 1e6, local

    def _convert(
        self, now: datetime, key: tuple[int, int, int, timedelta | None]
    ) -> tuple[float, LocalMinute]:
        answer = _local_minute(now.astimezone(self.zone))
        offset = key[3]
        start = now.replace(second=0, microsecond=0)
        if offset is None:
            return now.timestamp(), answer
        base, part = divmod(start.replace(tzinfo=None) - offset - _EPOCH_NAIVE, _SECOND)
        if not part and _MEMO_FROM <= base < _MEMO_TO:
            first = start.astimezone(self.zone)
            last = (start + _REST_OF_MINUTE).astimezone(self.zone)
            same = _local_minute(first) == answer == _local_minute(last)
            if same and first.utcoffset() == last.utcoffset():
                if len(self._memo) >= _CACHE_LIMIT:
                    self._memo.clear()
                self._memo[key] = (base, answer)
        return now.timestamp(), answer


def _local_minute(local: datetime) -> LocalMinute:
    return local.toordinal(), local.hour * 60 + local.minute, local.date()


def quiet_table(ranges: list[str]) -> bytes:
    """A 1440-byte table, 1 for each minute of the day inside a ``[start, end)`` range."""
    table = bytearray(1440)
    for text in ranges:
        start, end = parse_time_range(text)
        minute = start
        while minute % 1440 != end % 1440:
            table[minute % 1440] = 1
            minute += 1
    return bytes(table)


class Ruleset:
    """A loaded rules file: the model plus every index and table ``evaluate`` uses."""

    def __init__(
        self, model: Rules, path: Path, version_hash: str, numbers: NumberIndex,
        consents: ConsentIndex, consents_path: Path | None,
    ) -> None:  # fmt: skip
        self.model = model
        self.path = path
        self.version_hash = version_hash
        self.numbers = numbers
        self.consents = consents
        self.consents_path = consents_path
        self._numbers_and_time(model)
        self._places(model, path.parent)
        self._trunks(model)
        self._outbound(model)
        self._monitoring(model)
        #: ``classify_source(ip) -> (direction, trunk id)``: direction of a request from
        #: ``ip`` and, for outbound, the sending trunk (spec section 3); bound for speed.
        self.classify_source: Callable[[str], Owner] = SourceMap(_owners(model)).classify
        self.callers: dict[CallerKey, Resolved] = {}  # callers.resolved's memo
        self.callers_seen = SecondSighting(8192)  # its keys seen once

    def _numbers_and_time(self, model: Rules) -> None:
        self.zone = ZoneInfo(model.timezone)
        self.clock = LocalClock(self.zone)
        self.country_code = model.country_code
        self.national_prefix = model.national_prefix
        #: ``nsn(raw)``: ``normalise`` with this ruleset's country code and national prefix.
        self.nsn = nsn_function(model.country_code, model.national_prefix)
        #: ``callee_nsn(raw)``: ``nsn`` after one carrier-selection prefix is stripped.
        self.carrier_prefixes = tuple(model.carrier_prefixes)
        self.callee_nsn = callee_function(self.nsn, self.carrier_prefixes)

    def _places(self, model: Rules, base: Path) -> None:
        """Files and addresses, resolved against the rules file's folder."""
        journal, state = model.journal, model.state  # journal: an SQLite path or a PG url
        self.journal_path = base / journal.path if journal and journal.path else None
        self.journal_url = journal.url if journal else None
        self.state_url = resolve_state_url(state.url, base) if state else None
        self.listen: list[str] = list(model.listen)
        self.admin_listen = model.admin.listen if model.admin else None
        self.admin_token_path = base / model.admin.token_file if model.admin else None
        self.unknown_sources: str = model.unknown_sources  # "reject" or "drop"

    def _trunks(self, model: Rules) -> None:
        """Per-trunk tables: targets, rates, operators, capacity, forwarding."""
        trunks = model.trunks
        self.trunk_targets = {tid: parse_target(t.deliver_to) for tid, t in trunks.items()}
        self.trunk_cps = {tid: t.max_cps for tid, t in trunks.items() if t.max_cps is not None}
        self.network_target = parse_target(model.network.deliver_to)
        ops = {k: k for k in model.operators}  # one shared string object per operator id
        self.trunk_operator = {tid: ops[t.operator] for tid, t in trunks.items()}
        caps = ((tid, t.max_concurrent_calls) for tid, t in trunks.items())
        self.trunk_max_calls = {tid: cap for tid, cap in caps if cap is not None}
        #: rules 1.1 section 3: trunks with ``forwarding: true`` and the window.
        self.forwarding_trunks = frozenset(t for t, v in trunks.items() if v.forwarding)
        self.forwarding_window: timedelta = parse_duration(model.forwarding_window)

    def _outbound(self, model: Rules) -> None:
        """The outbound checks' settings: consent, quiet hours, caps, violations, limits."""
        out = model.outbound
        self.require_consent = out.require_consent
        self.quiet = quiet_table(out.quiet_hours)
        self.max_calls = out.max_calls_per_callee_per_day
        self.suspend_after = out.suspend_after_violations
        self.violation_window: timedelta = parse_duration(out.violation_window)
        sc = out.short_calls
        self.short_calls = (sc.seconds, sc.ratio, sc.over_last) if sc is not None else None
        self.max_calls_per_minute = out.max_calls_per_minute_per_number
        self.max_distinct_callees = out.max_distinct_callees_per_hour_per_number
        limits = (self.max_calls_per_minute, self.max_distinct_callees)
        self.behaviour_limits = any(limit is not None for limit in limits)

    def _monitoring(self, model: Rules) -> None:
        """Monitor mode (rules 1.1 section 4): trunks watching every check, reasons watched
        on every trunk, and the trunks whose calls take the monitored path."""
        out = model.outbound
        self.monitor_trunks = frozenset(
            tid for tid, t in model.trunks.items() if (t.mode or model.mode) == "monitor"
        )
        self.monitor_reasons = frozenset(Reason(r) for r in out.monitor)
        self.monitoring = frozenset(model.trunks) if out.monitor else self.monitor_trunks

    def deliver_to(self, direction: Direction | None, trunk: str | None) -> Target | None:
        """Where an allowed call goes: the network for outbound, the number's trunk inbound."""
        if direction is Direction.OUTBOUND:
            return self.network_target
        return None if direction is None or trunk is None else self.trunk_targets.get(trunk)


def callee_function(
    nsn: Callable[[str | None], str | None], prefixes: tuple[str, ...]
) -> Callable[[str | None], str | None]:
    """``nsn`` for callee numbers: one carrier prefix stripped first (rules 1.1 section 2)."""
    if not prefixes:
        return nsn

    def callee_nsn(raw: str | None) -> str | None:
        return None if raw is None else nsn(strip_carrier_prefix(raw, prefixes))

    return callee_nsn


def _owners(model: Rules) -> list[tuple[str, Owner]]:
    """Every peer of the network and of each trunk, with the direction and trunk it means."""
    owners: list[tuple[str, Owner]] = [(p, (Direction.INBOUND, None)) for p in model.network.peers]
    for tid, trunk in model.trunks.items():
        owners.extend((peer, (Direction.OUTBOUND, tid)) for peer in trunk.peers)
    return owners
