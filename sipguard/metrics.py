"""The project's Prometheus metrics, all in one registry.

Every metric sipguard exports is defined here, once, on :data:`REGISTRY` (not the
prometheus-client global registry), so tests and several servers in one process never
collide and an exporter serves exactly these series.

Invariants:
- Label sets are bounded: reasons are the 16 of spec section 4; trunk and operator ids come
  from the rules, and past :data:`MAX_IDS` distinct ids a label reads ``other``, so a
  misbehaving rules file cannot grow the series without bound.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sipguard.policy.facts import Reason

REGISTRY = CollectorRegistry(auto_describe=True)
MAX_IDS = 100  # distinct trunk or operator label values before "other"

DECISIONS = Counter(
    "sipguard_decisions_total", "Call decisions, by reason.", ["reason"], registry=REGISTRY
)
MONITORED = Counter(
    "sipguard_monitored_decisions_total",
    "Decisions a monitored check would have refused, by that check's reason.",
    ["reason"],
    registry=REGISTRY,
)
JOURNAL_RECORDS = Counter(
    "sipguard_journal_records_total", "Journal entries made durable.", registry=REGISTRY
)
JOURNAL_WRITE_FAILURES = Counter(
    "sipguard_journal_write_failures_total",
    "Journal batches that could not be written, by SQLite error class.",
    ["error"],
    registry=REGISTRY,
)
JOURNAL_QUEUE_DEPTH = Gauge(
    "sipguard_journal_queue_depth", "Entries waiting for the journal writer.", registry=REGISTRY
)
JOURNAL_HEALTHY = Gauge(
    "sipguard_journal_healthy", "1 when the last journal write succeeded.", registry=REGISTRY
)
JOURNAL_BATCH_SIZE = Histogram(
    "sipguard_journal_batch_size",
    "Entries per group commit.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=REGISTRY,
)
JOURNAL_COMMIT_SECONDS = Histogram(
    "sipguard_journal_commit_seconds",
    "Time of one group commit, fsync included.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
    registry=REGISTRY,
)
JOURNAL_SERVICE_RESTARTS = Counter(
    "sipguard_journal_service_restarts_total",
    "Times the journal service was found dead and started again.",
    registry=REGISTRY,
)
STATE_WRITES_LOST = Counter(
    "sipguard_state_writes_lost_total",
    "State changes kept in memory that the journal service could not persist.",
    registry=REGISTRY,
)
JOURNAL_PURGED = Counter(
    "sipguard_journal_purged_total", "Entries deleted by retention.", registry=REGISTRY
)
DECISIONS_BY_PARTY = Counter(
    "sipguard_decisions_by_party_total",
    "Call decisions, by reason, trunk and operator (none: the call matched no trunk).",
    ["reason", "trunk", "operator"],
    registry=REGISTRY,
)
RULES_LOADED = Gauge(
    "sipguard_rules_loaded_timestamp_seconds",
    "Unix time the rules in force were loaded (at start or by the last good reload).",
    registry=REGISTRY,
)
RULES_INFO = Gauge(
    "sipguard_rules_info",
    "1 for the hash of the rules in force (one series at a time).",
    ["rules_hash"],
    registry=REGISTRY,
)
LOG_SUPPRESSED = Counter(
    "sipguard_log_suppressed_total",
    "Log events dropped by a rate limiter, by limiter name.",
    ["limiter"],
    registry=REGISTRY,
)


_IDS: dict[str, set[str]] = {"trunk": set(), "operator": set()}


def _bounded(kind: str, value: str | None) -> str:
    """``value`` as a label: ``none`` when absent, ``other`` past :data:`MAX_IDS` ids."""
    if value is None:
        return "none"
    seen = _IDS[kind]
    if value in seen:
        return value
    if len(seen) >= MAX_IDS:
        return "other"
    seen.add(value)
    return value


_CHILDREN: dict[tuple[str | None, ...], tuple[Counter, ...]] = {}  # see count_decision
_CHILDREN_MAX = 4096


def count_decision(
    reason: str | None, trunk: str | None, operator: str | None, monitored: str | None = None
) -> None:
    """Count one call decision, by reason and by reason, trunk and operator.

    A decision with a ``monitored`` reason (rules 1.1 section 4) is also counted by it.
    The labelled counters of each combination are looked up once and kept (at most
    ``_CHILDREN_MAX`` combinations, then the cache starts again): the same series as
    :func:`count_decision_plain`, without a label lookup per call.
    """
    key = (reason, trunk, operator, monitored)
    children = _CHILDREN.get(key)
    if children is None:
        if len(_CHILDREN) >= _CHILDREN_MAX:
            _CHILDREN.clear()
        children = _CHILDREN[key] = _children(reason, trunk, operator, monitored)
    for child in children:
        child.inc()


def count_decision_plain(
    reason: str | None, trunk: str | None, operator: str | None, monitored: str | None = None
) -> None:
    """:func:`count_decision` with every label looked up on each call (the plain form)."""
    for child in _children(reason, trunk, operator, monitored):
        child.inc()


def _children(
    reason: str | None, trunk: str | None, operator: str | None, monitored: str | None
) -> tuple[Counter, ...]:
    label = reason or "UNKNOWN"
    party = DECISIONS_BY_PARTY.labels(
        reason=label, trunk=_bounded("trunk", trunk), operator=_bounded("operator", operator)
    )
    if monitored is None:
        return (DECISIONS.labels(reason=label), party)
    return (DECISIONS.labels(reason=label), MONITORED.labels(reason=monitored), party)


_LOADED_AT: list[float] = []  # the last load time, for rules_age


def rules_loaded(rules_hash: str, at: float, parties: Iterable[tuple[str, str]] = ()) -> None:
    """Record that the rules with ``rules_hash`` came into force at Unix time ``at``.

    The decision series of every reason are made now, at 0, for calls of no trunk and for
    each (trunk, operator) of ``parties``: Prometheus exports series known in advance from
    the start (a rate over one that appears later misses its first count), and a series
    made during a flood would outlive it in the memory the flood took.
    """
    for trunk, operator in ((None, None), *parties):
        for reason in (*Reason, None):
            key = (reason, trunk, operator, None)
            # at most half the cache: the rest is for the combinations calls bring (a
            # monitored reason, a trunk past the rules' own)
            if key not in _CHILDREN and len(_CHILDREN) < _CHILDREN_MAX // 2:
                _CHILDREN[key] = _children(reason, trunk, operator, None)
    _LOADED_AT[:] = [at]
    RULES_LOADED.set(at)
    RULES_INFO.clear()
    RULES_INFO.labels(rules_hash=rules_hash).set(1)


def rules_age(now: float) -> float | None:
    """Seconds the rules in force have been in force at Unix time ``now`` (None: never loaded)."""
    return max(0.0, now - _LOADED_AT[0]) if _LOADED_AT else None


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
