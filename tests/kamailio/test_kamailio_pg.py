"""The plugin on a PostgreSQL journal (``journal.url``): the main process's service, per
Kamailio instance, journals decisions and outcomes of every worker into the database."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_ksr import FakeKSR
from rulesdata import write_rules

from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.journal.backends import service_socket
from tests.pg_cluster import PgCluster, pg_available, pg_cluster_fixture

pytestmark = pytest.mark.skipif(not pg_available(), reason="PostgreSQL or psycopg not installed")
pg_cluster = pg_cluster_fixture()


@pytest.fixture
def pg_rules(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Rules whose journal is a fresh PostgreSQL database; its service stopped afterwards."""
    url = pg_cluster.create_database("kamailio")
    rules = write_rules(tmp_path)
    text = rules.read_text()
    start = text.index("journal:")
    end = text.index("\n", text.index("path:", start))
    rules.write_text(f'{text[:start]}journal:\n  url: "{url}"{text[end:]}')
    yield rules, url
    lock = Path(f"{service_socket(url, os.getpid())}.lock")
    pid = lock.read_text().strip() if lock.exists() else ""
    if pid.isdigit():
        os.kill(int(pid), signal.SIGTERM)


def test_workers_journal_into_postgresql(pg_rules: tuple[Path, str], tmp_path: Path) -> None:
    """Worker 1 screens and bridges, worker 2 takes the BYE; both records are in the
    database, in one chain, and the state file is beside the rules."""
    from sipguard.journal.pg_store import PgJournalStore

    rules, url = pg_rules
    ksr = FakeKSR()
    workers = []
    for rank in (1, 2):
        kemi = SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules)})
        kemi.child_init(rank)
        workers.append(kemi)
    ksr.method, ksr.totag, ksr.loose = "INVITE", False, False
    uris = {"$fu": "sip:4008001234@127.0.0.2", "$ru": "sip:13800138000@127.0.0.1"}
    ksr.request(**{"$si": "127.0.0.2", "$sp": 5060, "$pr": "udp", "$ci": "pg-1"}, **uris)
    workers[0].ksr_request_route(None)
    ksr.request(**{"$rm": "INVITE", "$rs": "200", "$ci": "pg-1"})
    workers[0].ksr_onreply_sipguard(None)
    ksr.method, ksr.totag, ksr.loose = "BYE", True, True
    ksr.request(**{"$si": "127.0.0.2", "$ci": "pg-1"})
    workers[1].ksr_request_route(None)
    assert workers[1].journal is not None
    workers[1].journal.sync()
    store = PgJournalStore(url)
    rows = [(e.kind, e.call_id) for e in store.entries()]
    assert rows == [("decision", "pg-1"), ("outcome", "pg-1")]
    assert store.verify().ok
    store.close()
    assert (tmp_path / "state.db").exists()
