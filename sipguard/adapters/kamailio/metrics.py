"""The plugin's Prometheus metrics: serve's names, counted by every Kamailio worker.

Invariants:
- Kamailio's workers are separate processes, so the metrics use prometheus-client's
  multiprocess mode: each process writes its values to its own files in
  ``PROMETHEUS_MULTIPROC_DIR`` and the exporter (``exporter.py``) merges them per scrape.
  The directory is chosen, and emptied, by ``kemi.py`` before anything imports
  prometheus-client (``metrics_dir.prepare``); without ``SIPGUARD_METRICS`` nothing is
  counted and a call pays nothing.
- The names and labels are serve's (``sipguard.metrics`` and
  ``adapters.server.metrics``): decisions by reason, by reason, trunk and operator, and
  monitored; calls in progress; 503s by cause; reloads and reload failures; the rules in
  force and when they were loaded; journal write failures; the size and time of the group
  commits the worker's requests were in (the service's ``stats`` frames).  A worker waits
  for each answer, so it has no queue: serve's queue depth has no counterpart here.
  Added for the plugin:
  ``sipguard_kamailio_lost_outcomes_total``.  Counters are summed over the workers, so a
  rules change read by four workers counts four reloads.
- A call in progress is counted up by the worker that relays it and down by the one that
  ends it (``livesum``: the sum over the live workers).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from sipguard import metrics as shared
from sipguard.adapters.kamailio.metrics_dir import DIR_ENV, ENV
from sipguard.policy.facts import Verdict

_OWN = CollectorRegistry()  # never scraped itself: the exporter reads the files
CALLS_IN_PROGRESS = Gauge(
    "sipguard_serve_calls_in_progress",
    "Calls set up or being set up.",
    multiprocess_mode="livesum",
    registry=_OWN,
)
REJECTED_503 = Counter(
    "sipguard_serve_rejected_503", "Requests answered 503, by cause.", ["cause"], registry=_OWN
)
RELOADS = Counter("sipguard_serve_reloads", "Rules reloads applied.", registry=_OWN)
RELOAD_FAILURES = Counter(
    "sipguard_serve_reload_failures", "Rules reloads rejected (old rules kept).", registry=_OWN
)
LOST_OUTCOMES = Counter(
    "sipguard_kamailio_lost_outcomes",
    "Call outcomes a worker could not write to the journal (each logged with its record).",
    registry=_OWN,
)


class _Rules(Protocol):
    @property
    def version_hash(self) -> str: ...


class Watched(Protocol):
    """What :meth:`PluginMetrics.track` reads of a ``RulesWatch``."""

    reloads: int
    failures: int

    @property
    def rules(self) -> _Rules: ...


class PluginMetrics:
    """One worker's counting; every method is a no-op when metrics are off."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._hash: str | None = None
        self._reloads = -1  # none seen yet: the first track is the load at start
        self._failures = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PluginMetrics:
        """On when ``SIPGUARD_METRICS`` is set and the multiprocess directory was chosen."""
        return cls(enabled=bool(env.get(ENV)) and DIR_ENV in env)

    def decided(self, verdict: Verdict) -> None:
        """Count one decision by reason, trunk and operator (and its monitored check)."""
        if self.enabled:
            monitored = verdict.monitored.value if verdict.monitored else None
            shared.count_decision(verdict.reason.value, verdict.trunk, verdict.operator, monitored)

    def refused_503(self, cause: str) -> None:
        """A request answered 503 (``journal``: an outbound decision could not be made durable)."""
        if self.enabled:
            REJECTED_503.labels(cause=cause).inc()

    def write_failed(self, error: str) -> None:
        """A journal write that failed, by the error class the service reported."""
        if self.enabled:
            shared.JOURNAL_WRITE_FAILURES.labels(error=error).inc()

    def committed(self, entries: int, seconds: float) -> None:
        """A group commit the worker's requests were in: its size and how long it took."""
        if self.enabled:
            shared.JOURNAL_BATCH_SIZE.observe(entries)
            shared.JOURNAL_COMMIT_SECONDS.observe(seconds)

    def call_opened(self) -> None:
        if self.enabled:
            CALLS_IN_PROGRESS.inc()

    def call_closed(self) -> None:
        if self.enabled:
            CALLS_IN_PROGRESS.dec()

    def outcome_lost(self) -> None:
        if self.enabled:
            LOST_OUTCOMES.inc()

    def track(self, watch: Watched) -> None:
        """Note the rules in force of a worker's watch: loads, reloads and failed reloads.

        A new hash's series is set to 1 and the previous one's to 0 (a multiprocess file
        keeps every series it ever had; the exporter leaves out the zeros).
        """
        if not self.enabled:
            return
        if watch.failures > self._failures:
            RELOAD_FAILURES.inc(watch.failures - self._failures)
            self._failures = watch.failures
        if watch.reloads == self._reloads:
            return
        if self._reloads >= 0:
            RELOADS.inc(watch.reloads - self._reloads)
        self._reloads = watch.reloads
        digest = watch.rules.version_hash
        if self._hash is not None and self._hash != digest:
            shared.RULES_INFO.labels(rules_hash=self._hash).set(0)
        self._hash = digest
        shared.RULES_INFO.labels(rules_hash=digest).set(1)
        shared.RULES_LOADED.set(time.time())
