"""Operators' metrics: decisions by reason, trunk and operator, calls in progress, reloads
and the rules' age, scraped from a real ``sipguard serve --metrics`` after a real sipp call;
and the Grafana dashboard in docker/, whose every query must name an exported metric."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipguard import metrics
from tests.e2e.harness import SIPP, Served, free_port, run_uac, sipguard_command, write_rules

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docker" / "grafana-dashboard.json"
_NAME = re.compile(r"\bsipguard_[a-z0-9_]+\b")  # digits too: sipguard_serve_rejected_503
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def test_decision_labels_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_IDS distinct trunks, new ones are counted under "other"; None is "none"."""
    monkeypatch.setattr(metrics, "MAX_IDS", 2)
    monkeypatch.setattr(metrics, "_IDS", {"trunk": set(), "operator": set()})
    monkeypatch.setattr(metrics, "_CHILDREN", {})
    for trunk in ("t-a", "t-b", "t-c", "t-d"):
        metrics.count_decision("NO_CONSENT", trunk, None)
    get = metrics.REGISTRY.get_sample_value
    name = "sipguard_decisions_by_party_total"
    assert get(name, {"reason": "NO_CONSENT", "trunk": "t-b", "operator": "none"}) >= 1
    assert get(name, {"reason": "NO_CONSENT", "trunk": "other", "operator": "none"}) >= 2


def _decision_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    names = ("sipguard_decisions", "sipguard_monitored_decisions", "sipguard_decisions_by_party")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in metrics.REGISTRY.collect() if family.name in names
        for sample in family.samples if sample.name.endswith("_total")
    }  # fmt: skip


def test_cached_decision_counting_counts_as_the_plain_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``count_decision`` keeps each combination's counters; the series it moves, and by
    how much, are those of looking every label up each time (``count_decision_plain``),
    past the id bound and across a cache that fills up and starts again."""
    monkeypatch.setattr(metrics, "MAX_IDS", 3)
    monkeypatch.setattr(metrics, "_CHILDREN_MAX", 4)
    calls = [("ALLOWED", f"cache-t{i % 5}", "op", "QUIET_HOURS" if i % 3 == 0 else None)
             for i in range(40)]  # fmt: skip
    calls += [(None, None, None, None), ("NO_CONSENT", None, "op", None)]
    deltas = []
    for count in (metrics.count_decision_plain, metrics.count_decision):
        monkeypatch.setattr(metrics, "_IDS", {"trunk": set(), "operator": set()})
        monkeypatch.setattr(metrics, "_CHILDREN", {})
        before = _decision_samples()
        for call in calls:
            count(*call)
        after = _decision_samples()
        deltas.append({k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k)})
    assert deltas[0] == deltas[1]
    party = "sipguard_decisions_by_party_total"
    assert deltas[1][(party, (("operator", "op"), ("reason", "ALLOWED"), ("trunk", "other")))] == 16


def test_rules_info_keeps_one_series() -> None:
    """A reload replaces the rules hash series; the age counts from the last load."""
    metrics.rules_loaded("aaa", 1000.0)
    metrics.rules_loaded("bbb", 2000.0)
    text = metrics.exposition().decode()
    assert 'sipguard_rules_info{rules_hash="bbb"} 1.0' in text and "aaa" not in text
    assert metrics.rules_age(2030.0) == 30.0


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    for line in text.splitlines():  # families with no sample yet still count as exported
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            for suffix in {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(
                kind, ("",)
            ):
                samples.setdefault(name + suffix if not name.endswith(suffix) else name, 0.0)
    return samples


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, float]]]:
    """Scrapes of a server before and after one refused sipp call and a SIGHUP reload."""
    if SIPP is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    folder = tmp_path_factory.mktemp("metrics")
    port, mport = free_port(), free_port()
    rules = write_rules(folder, free_port("127.0.0.2"), free_port("127.0.0.4"))
    log = (folder / "serve.log").open("wb")
    args = ["serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}",
            "--metrics", f"127.0.0.1:{mport}"]  # fmt: skip
    proc = subprocess.Popen([*sipguard_command(), *args], cwd=folder, stdout=log, stderr=log)
    served = Served(proc, "127.0.0.1", port, folder, 0, 0)
    try:
        deadline = time.monotonic() + 15
        while "serve.ready" not in served.log_text():
            assert proc.poll() is None and time.monotonic() < deadline, served.log_text()
            time.sleep(0.05)
        before = _scrape(mport)
        keys = ("-key", "caller", "4001112222", "-key", "callee", "13800138000", "-m", "1")
        run = run_uac(folder, "uac_reject.xml", "127.0.0.2", f"127.0.0.1:{port}", *keys)
        assert run.returncode == 0, run.errors[-2000:]
        proc.send_signal(signal.SIGHUP)
        while "rules.reloaded" not in served.log_text():
            assert time.monotonic() < deadline + 15, served.log_text()
            time.sleep(0.05)
        yield {"before": before, "after": _scrape(mport)}
    finally:
        assert served.stop() == 0, served.log_text()[-3000:]


@pytest.mark.e2e
def test_serve_metrics_after_a_call_and_a_reload(scraped: dict[str, dict[str, float]]) -> None:
    """The refused call is counted by reason, trunk and operator; the reload and the rules'
    age and hash are exported; no call is left in progress."""
    before, after = scraped["before"], scraped["after"]
    key = (
        'sipguard_decisions_by_party_total{operator="acme",reason="CALLER_UNREGISTERED",'
        'trunk="acme-sh-1"}'
    )
    assert after[key] - before.get(key, 0.0) == 1.0
    assert after["sipguard_serve_reloads_total"] - before["sipguard_serve_reloads_total"] == 1.0
    assert after["sipguard_serve_calls_in_progress"] == 0.0
    assert 0.0 <= after["sipguard_serve_rules_age_seconds"] < 60.0
    assert (
        after["sipguard_rules_loaded_timestamp_seconds"]
        > before["sipguard_rules_loaded_timestamp_seconds"]
    )
    assert sum(v for k, v in after.items() if k.startswith("sipguard_rules_info{")) == 1.0


@pytest.mark.e2e
def test_dashboard_queries_name_exported_metrics(scraped: dict[str, dict[str, float]]) -> None:
    """Every metric a dashboard query names is exported by a running server."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    names = {n for e in exprs for n in re.findall(_NAME, e)}
    exported = {k.split("{")[0] for k in scraped["after"]}
    assert len(names) >= 10 and names <= exported, sorted(names - exported)
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])


# What operators must see (the NOC's list): decisions by reason, trunk and operator; calls
# in progress; 503s by cause; journal queue depth and commit latency; reloads and their
# failures; the age of the rules in force.
NOC = [
    "sipguard_decisions_by_party_total",
    "sipguard_serve_calls_in_progress",
    "sipguard_serve_rejected_503_total",
    "sipguard_journal_queue_depth",
    "sipguard_journal_commit_seconds_bucket",
    "sipguard_serve_reloads_total",
    "sipguard_serve_reload_failures_total",
    "sipguard_serve_rules_age_seconds",
]


def test_dashboard_charts_every_metric_operators_need() -> None:
    """Each metric of the NOC's list is drawn by some panel of the dashboard."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    drawn = {n for p in board["panels"] for t in p["targets"] for n in _NAME.findall(t["expr"])}
    assert set(NOC) <= drawn, sorted(set(NOC) - drawn)
    causes = [p for p in board["panels"] if "sipguard_serve_rejected_503_total" in str(p)]
    assert "by (cause)" in causes[0]["targets"][0]["expr"]


def test_a_metrics_address_in_use_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    """``--metrics`` on a port another process holds: serve logs ``metrics.bind_failed``
    with the address, stops cleanly and exits 1 (as with an admin address in use)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    mport = holder.getsockname()[1]
    rules = write_rules(tmp_path, free_port("127.0.0.2"), free_port("127.0.0.4"))
    args = ["serve", "--rules", str(rules), "--listen", f"127.0.0.1:{free_port()}",
            "--metrics", f"127.0.0.1:{mport}"]  # fmt: skip
    try:
        done = subprocess.run([*sipguard_command(), *args], cwd=tmp_path, capture_output=True,
                              timeout=60, text=True)  # fmt: skip
    finally:
        holder.close()
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "metrics.bind_failed" in out and f"127.0.0.1:{mport}" in out
    assert "Traceback" not in out
