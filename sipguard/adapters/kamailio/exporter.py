"""The plugin's metrics exporter: one small process that serves ``/metrics`` for Kamailio.

Invariants:
- ``python -m sipguard.adapters.kamailio.exporter --dir D --listen HOST:PORT`` serves, per
  scrape, the merge of every worker's files in ``D`` (prometheus-client's
  ``MultiProcessCollector``), with serve's names, plus two families computed at scrape:
  ``sipguard_serve_rules_age_seconds`` (now less the latest load time of any worker) and
  ``sipguard_journal_healthy`` (1 when the journal service answers a ``sync``).  Series a
  multiprocess file keeps at 0 only because a process imported the metric (old rules
  hashes, load times never set, health never set) are left out, and so are serve's
  journal-client families, which no Kamailio process sets.
- It never writes metric files itself: it runs without ``PROMETHEUS_MULTIPROC_DIR``.
- :func:`start` is called from ``mod_init``; like the journal service it is started
  through an intermediate process (Kamailio's main process shuts down when a child of its
  own exits), watches the main process's pid and leaves with it.  An exporter already
  answering on the address is kept.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from sipguard.adapters.kamailio.metrics_dir import DIR_ENV, ENV
from sipguard.journal.lockfile import alive
from sipguard.policy.hostport import parse_hostport

_ZEROS_LEFT_OUT = frozenset({"sipguard_rules_info", "sipguard_rules_loaded_timestamp_seconds"})
_PROBED = "sipguard_journal_healthy"
# serve's journal-client metrics: every process imports them, no Kamailio process sets them,
# so they would read 0 whatever the journal does.  (The batch size and commit time are the
# workers' own: PluginMetrics.committed.)
_NOT_KAMAILIOS = frozenset({
    "sipguard_journal_queue_depth", "sipguard_journal_records",
    "sipguard_journal_service_restarts", "sipguard_state_writes_lost", "sipguard_journal_purged",
})  # fmt: skip


class KamailioCollector(Collector):
    """Every worker's metrics, merged, with the rules' age and the journal's health."""

    def __init__(
        self, folder: Path, journal_socket: Path | None, clock: Callable[[], float] = time.time
    ) -> None:
        self._merged = MultiProcessCollector(None, path=str(folder))  # type: ignore[no-untyped-call]
        self._socket = journal_socket
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        """Yield the merged families, then the computed ones."""
        loaded: list[float] = []
        for family in self._merged.collect():  # type: ignore[no-untyped-call]
            if family.name == _PROBED or family.name.removesuffix("_total") in _NOT_KAMAILIOS:
                continue
            if family.name in _ZEROS_LEFT_OUT:
                family.samples = [s for s in family.samples if s.value != 0]
            if family.name == "sipguard_rules_loaded_timestamp_seconds":
                loaded = [s.value for s in family.samples]
            yield family
        if loaded:
            age = GaugeMetricFamily(
                "sipguard_serve_rules_age_seconds", "How long the rules in force have been."
            )
            age.add_metric([], max(0.0, self._clock() - max(loaded)))
            yield age
        if self._socket is not None:
            healthy = GaugeMetricFamily(_PROBED, "1 when the journal service answers.")
            healthy.add_metric([], 1.0 if _journal_answers(self._socket) else 0.0)
            yield healthy


def _journal_answers(path: Path) -> bool:
    from sipguard.journal.client import ServiceClient
    from sipguard.journal.writer import JournalUnavailable

    try:
        with ServiceClient(path, timeout=2.0) as client:
            client.sync()
    except JournalUnavailable:
        return False
    return True


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _python() -> str:
    """This Python's interpreter (inside Kamailio ``sys.executable`` is Kamailio itself)."""
    exe = Path(sys.executable or "")
    if exe.name.startswith("python"):
        return str(exe)
    return str(Path(sys.exec_prefix) / "bin" / f"python{sys.version_info[0]}")


def start(listen: str, folder: Path, journal_socket: Path | None, watch_pid: int) -> bool:
    """Start the exporter for ``folder`` on ``listen`` unless one answers; True once it does."""
    address = parse_hostport(listen)
    if address.port is None:
        raise ValueError(f"metrics address must be HOST:PORT, got {listen!r}")
    host, port = address.host, address.port
    if _answers(host, port):
        return True
    argv = [_python(), "-m", "sipguard.adapters.kamailio.exporter", "--dir", str(folder),
            "--listen", listen, "--watch-pid", str(watch_pid)]  # fmt: skip
    if journal_socket is not None:
        argv += ["--journal-socket", str(journal_socket)]
    env = {k: v for k, v in os.environ.items() if k != DIR_ENV}
    pid = os.fork()
    if pid == 0:  # the intermediate: start the exporter, then leave at once
        try:
            subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if _answers(host, port):
            return True
        time.sleep(0.05)
    return False


def start_exporter(env: Mapping[str, str], sock: Path | None, main_pid: int) -> str | None:
    """Start the exporter when metrics are on (``SIPGUARD_METRICS``); what went wrong, if.

    ``sock`` is the journal service's socket, whose liveness the exporter reports."""
    listen, folder = env.get(ENV), env.get(DIR_ENV)
    if not listen or not folder:
        return None
    try:
        if start(listen, Path(folder), sock, main_pid):
            return None
    except (ValueError, OSError) as exc:
        return f"the metrics exporter cannot start on {listen}: {exc}"
    return f"the metrics exporter did not start on {listen}"


def main(argv: list[str] | None = None) -> int:
    """Serve ``/metrics`` until the watched pid is gone."""
    p = argparse.ArgumentParser(prog="python -m sipguard.adapters.kamailio.exporter")
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--journal-socket", type=Path)
    p.add_argument("--watch-pid", type=int)
    args = p.parse_args(argv)
    address = parse_hostport(args.listen)
    if address.port is None:
        p.error("--listen must be HOST:PORT")
    registry = CollectorRegistry()
    registry.register(KamailioCollector(args.dir, args.journal_socket))
    start_http_server(address.port, addr=address.host, registry=registry)
    while args.watch_pid is None or alive(args.watch_pid):
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
