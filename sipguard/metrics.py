"""The project's Prometheus metrics, all in one registry.

Every metric sipguard exports is defined here, once, on :data:`REGISTRY` (not the
prometheus-client global registry), so tests and several servers in one process never
collide and an exporter serves exactly these series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

DECISIONS = Counter(
    "sipguard_decisions_total", "Call decisions, by reason.", ["reason"], registry=REGISTRY
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
LOG_SUPPRESSED = Counter(
    "sipguard_log_suppressed_total",
    "Log events dropped by a rate limiter, by limiter name.",
    ["limiter"],
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
