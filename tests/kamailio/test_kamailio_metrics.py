"""The plugin's metrics from a real Kamailio: every worker's counts, merged by the exporter.

sipp places allowed and refused calls through four workers; a scrape of the exporter must
count the decisions per reason exactly as the journal holds them, with serve's names.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import Kamailio, sipp, start_kamailio, start_uas, tools_present
from rulesdata import write_rules

from sipguard.journal import JournalStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not tools_present(), reason="kamailio and sipp are not installed"),
]
PORT, UAS_PORT, METRICS_PORT = 5265, 5275, 5295
TARGET = f"127.0.0.1:{PORT}"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")
DASHBOARD = Path(__file__).resolve().parents[2] / "docker" / "grafana-dashboard.json"
CALLS = [  # (scenario, source, caller, callee, how many)
    ("uac_call.xml", "127.0.0.2", "4008001234", "13800138000", 3),
    ("uac_reject.xml", "127.0.0.2", "4008001234", "13100131000", 2),  # NO_CONSENT
    ("uac_reject.xml", "127.0.0.2", "4008009999", "13800138000", 2),  # CALLER_UNREGISTERED
    ("uac_reject.xml", "127.0.0.9", "4008001234", "13800138000", 1),  # UNKNOWN_SOURCE
]


def scrape() -> dict[str, float]:
    """Every sample of the exporter's /metrics, keyed by name and labels (pid left out)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=10) as r:
        text = r.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = re.sub(r',?pid="\d+"', "", match.group(2) or "").replace("{,", "{")
            key = match.group(1) + ("" if labels in ("", "{}") else labels)
            samples[key] = samples.get(key, 0.0) + float(match.group(3))
    return samples


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    folder = tmp_path_factory.mktemp("kmetrics")
    rules = write_rules(folder, port=UAS_PORT, cap=10)
    env = {"SIPGUARD_METRICS": f"127.0.0.1:{METRICS_PORT}",
           "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics")}  # fmt: skip
    k = start_kamailio(rules, PORT, children=4, env=env)
    yield k
    k.stop()


def test_decisions_per_reason_match_the_journal(kamailio: Kamailio) -> None:
    """Eight calls over four workers: the merged counters per reason are the journal's, by
    reason and by reason, trunk and operator; no call is left in progress."""
    before = scrape()
    for i, (scenario, src, caller, callee, n) in enumerate(CALLS):
        work = kamailio.workdir / f"calls-{i}"
        work.mkdir()
        bridged = scenario == "uac_call.xml"
        uas = start_uas("127.0.0.4", UAS_PORT, work, calls=n) if bridged else None
        done = sipp(scenario, TARGET, src, 5266 + i, work, "-key", "caller", caller,
                    "-s", callee, "-r", "20", calls=n)  # fmt: skip
        if uas is not None:
            uas.wait(10)
        assert done.returncode == 0, done.stdout[-2000:]
    time.sleep(0.3)
    after = scrape()
    store = JournalStore(kamailio.workdir / "journal.db")
    rows = [e for e in store.entries() if e.kind == "decision"]
    journaled = Counter(e.reason for e in rows)
    assert journaled == {"ALLOWED": 3, "NO_CONSENT": 2, "CALLER_UNREGISTERED": 2,
                         "UNKNOWN_SOURCE": 1}  # fmt: skip
    for reason, count in journaled.items():
        key = f'sipguard_decisions_total{{reason="{reason}"}}'
        assert after.get(key, 0.0) - before.get(key, 0.0) == count, (reason, after)
    by_party = Counter((e.reason, e.trunk or "none", e.operator or "none") for e in rows)
    for (reason, trunk, operator), count in by_party.items():
        key = (f'sipguard_decisions_by_party_total{{operator="{operator}",reason="{reason}",'
               f'trunk="{trunk}"}}')  # fmt: skip
        assert after.get(key, 0.0) - before.get(key, 0.0) == count, (key, after)
    assert after["sipguard_serve_calls_in_progress"] == 0.0
    # the group commits the decisions were in, counted by the workers from the service's
    # stats frames: at least one, each of at least one entry
    commits = [after.get(f"sipguard_journal_{m}", 0.0) - before.get(f"sipguard_journal_{m}", 0.0)
               for m in ("commit_seconds_count", "batch_size_count", "batch_size_sum")]  # fmt: skip
    assert commits[0] >= 1 and commits[1] == commits[0] and commits[2] >= commits[0], commits
    assert after["sipguard_journal_healthy"] == 1.0
    assert 0.0 <= after["sipguard_serve_rules_age_seconds"] < 120.0
    hashes = [k for k, v in after.items() if k.startswith("sipguard_rules_info{") and v]
    assert len(hashes) == 1 and 1.0 <= after[hashes[0]] <= 4.0  # one hash, in every worker


def test_a_reload_is_counted_and_the_new_hash_replaces_the_old(kamailio: Kamailio) -> None:
    """A changed rules file: every worker that takes a call reloads, the old hash's series
    goes, and serve's reload counter moves."""
    before = scrape()
    rules = kamailio.workdir / "rules.yaml"
    rules.write_text(rules.read_text().replace("suspend_after_violations: 5",
                                               "suspend_after_violations: 6"))  # fmt: skip
    time.sleep(2.5)  # past the workers' check interval
    work = kamailio.workdir / "after-reload"
    work.mkdir()
    done = sipp("uac_reject.xml", TARGET, "127.0.0.2", 5271, work, "-key", "caller",
                "4008009999", "-s", "13800138000", "-r", "20", calls=8)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    after = scrape()
    reloads = after["sipguard_serve_reloads_total"] - before.get("sipguard_serve_reloads_total", 0)
    (old,) = [k for k, v in before.items() if k.startswith("sipguard_rules_info{") and v]
    new = [k for k, v in after.items() if k.startswith("sipguard_rules_info{") and v and k != old]
    assert reloads >= 1 and len(new) == 1
    assert after[new[0]] == reloads  # one series per worker that reloaded ...
    assert after.get(old, 0.0) + after[new[0]] == before[old]  # ... the old hash's in the rest


def test_the_dashboard_queries_that_kamailio_serves(kamailio: Kamailio) -> None:
    """The dashboard's decision, journal health, rules and calls panels name metrics the
    plugin exports (its UDP and queue-depth panels are serve's own sockets and queue, which
    a plugin worker, waiting for each answer, does not have)."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    names = {n for e in exprs for n in re.findall(r"\bsipguard_[a-z0-9_]+\b", e)}
    exported = {k.split("{")[0] for k in scrape()}
    missing = names - exported
    # serve's own sockets and journal client; a labelled counter has no series before its
    # first failure
    assert missing <= {"sipguard_serve_udp_received_total", "sipguard_serve_udp_dropped_total",
                       "sipguard_journal_queue_depth", "sipguard_journal_write_failures_total",
                       "sipguard_serve_rejected_503_total"}, sorted(missing)  # fmt: skip
    assert "sipguard_journal_queue_depth" not in exported  # never a misleading 0

