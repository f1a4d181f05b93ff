"""Requests from addresses in no peer list: at most one stateless answer, or none.

A request from an unlisted source is the raw material of a reflection attack (the source is
easily forged over UDP) and of a scan.  Kamailio answers such peers statelessly at most once
(``sl_send_reply``) or drops them; so does this module.

Invariants:
- an unlisted request never creates transaction state and never gets 100 Trying: it gets
  one stateless answer (``unknown_sources: reject``) or nothing (``drop``); an ACK never
  gets one; so no more packets leave toward an unlisted address than arrived from it;
- ``stats.by_method`` counts the methods of ``KNOWN_METHODS`` by name and every other
  method under "other", so a flood of invented methods adds no entries;
- answers are rate-limited per source prefix (/24 for IPv4, /64 for IPv6); every answer
  refused is counted in ``stats.suppressed``; the prefix table is bounded (oldest out);
  the buckets are the core's own ``overload.TokenBucket`` (the core imports no metrics);
- an unlisted INVITE is screened (reason UNKNOWN_SOURCE) and its decision journaled for the
  first INVITE of each source in each minute only (``stats.unjournaled`` counts the rest),
  so a flood cannot fill the journal; the sampled decision's answer leaves once it is kept;
- pure: time comes in as ``now``; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from sipguard.b2bua.effects import Addr, Decided, Effects
from sipguard.b2bua.headers import KNOWN_METHODS, refusal_status_phrase
from sipguard.b2bua.overload import Rejected, TokenBucket
from sipguard.b2bua.reply_route import stateless
from sipguard.policy.evaluate import evaluate
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State
from sipguard.screening import facts_from_request
from sipguard.sip.message import Request

MAX_PREFIXES = 4096  # rate-limit buckets kept (one per /24 or /64)
MAX_SAMPLED = 4096  # sources whose decision is journaled in one minute


@dataclass(slots=True)
class StrangerStats:
    """What unlisted sources sent and what they got."""

    requests: int = 0
    answered: int = 0
    dropped: int = 0  # dropped by ``unknown_sources: drop`` (and ACKs)
    suppressed: int = 0  # answers refused by the per-prefix rate limit
    journaled: int = 0
    unjournaled: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CoreStats:
    """The call core's counters read by the metrics: 503s by cause, unlisted sources."""

    rejected: Rejected
    strangers: StrangerStats


def listed(rules: Ruleset, host: str) -> bool:
    """True when ``host`` is in a peer list or is where the rules deliver calls."""
    if rules.classify_source(host)[0] is not None:
        return True
    if rules.network_target.host == host:
        return True
    return any(t.host == host for t in rules.trunk_targets.values())


def prefix_of(host: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) network of ``host``; a name stands for itself."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    bits = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


class Strangers:
    """Answers unlisted sources statelessly, rate-limited, with a sampled journal record."""

    def __init__(self, rate: float = 5.0, burst: int = 10) -> None:
        self.rate, self.burst = rate, burst
        self.stats = StrangerStats()
        self._limits: dict[str, TokenBucket] = {}
        self._sampled: set[str] = set()
        self._minute = -1

    def request(
        self,
        req: Request,
        source: Addr,
        rules: Ruleset,
        state: State,
        now: float,
        wall: datetime,
        via: Addr | None = None,
    ) -> Effects:
        """The effects of one request from an unlisted ``source`` (relayed by ``via``)."""
        stats = self.stats
        stats.requests += 1
        method = req.method if req.method in KNOWN_METHODS else "other"
        stats.by_method[method] = stats.by_method.get(method, 0) + 1
        if req.method == "ACK" or rules.unknown_sources == "drop":
            stats.dropped += 1
            return []
        if not self._allow(source.host, now):
            stats.suppressed += 1
            return []
        stats.answered += 1
        back = via or source  # a front's caller is answered through the front
        if req.method != "INVITE":
            return [stateless(req, back, 403)]
        facts = facts_from_request(req, source.host, source.port, source.transport)
        verdict = evaluate(facts, rules, state, wall)
        phrase = refusal_status_phrase(rules, 403, verdict.reason.value)
        answer = stateless(req, back, 403, (("Reason", verdict.reason_header or ""),), phrase)
        if not self._sample(source.host, now):
            stats.unjournaled += 1
            return [answer]
        stats.journaled += 1
        return [Decided(facts, verdict, wall, (req.call_id,), (answer,))]

    def bad_request(self, rules: Ruleset, source: Addr, now: float) -> bool:
        """May a request from ``source`` that failed validation get its one answer?"""
        self.stats.requests += 1
        if rules.unknown_sources == "drop":
            self.stats.dropped += 1
            return False
        if not self._allow(source.host, now):
            self.stats.suppressed += 1
            return False
        self.stats.answered += 1
        return True

    def _allow(self, host: str, now: float) -> bool:
        prefix = prefix_of(host)
        limiter = self._limits.get(prefix)
        if limiter is None:
            if len(self._limits) >= MAX_PREFIXES:
                del self._limits[next(iter(self._limits))]
            limiter = self._limits[prefix] = TokenBucket(self.rate, float(self.burst))
        return limiter.take(now)

    def _sample(self, host: str, now: float) -> bool:
        """True for the first INVITE of ``host`` in the current minute."""
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._sampled.clear()
        if host in self._sampled or len(self._sampled) >= MAX_SAMPLED:
            return False
        self._sampled.add(host)
        return True
