"""The PostgreSQL journal against a real server: the chain, concurrent nodes, retention,
queries, and the same answers as the SQLite journal for the same entries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sipguard.journal.entries import outcome_entry
from sipguard.journal.query import EntryQuery, Query
from sipguard.journal.record import Entry
from sipguard.journal.store import JournalStore
from sipguard.journal.writer import JournalUnavailable
from sipguard.policy.facts import Reason
from tests.pg_cluster import PgCluster, free_port, pg_available, pg_cluster_fixture

from .conftest import T0, decision

pytestmark = pytest.mark.skipif(not pg_available(), reason="PostgreSQL or psycopg not installed")
pytest.importorskip("psycopg")
from sipguard.journal.pg_store import PgJournalStore  # noqa: E402

pg_cluster = pg_cluster_fixture()


@pytest.fixture
def url(pg_cluster: PgCluster, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database for this test."""
    return pg_cluster.create_database(f"j_{request.node.name[5:40]}".lower())


@pytest.fixture
def store(url: str) -> Iterator[PgJournalStore]:
    """A PostgreSQL journal on that database."""
    s = PgJournalStore(url)
    yield s
    s.close()


def _tamper(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(sql)


def test_append_chains_and_verifies(store: PgJournalStore, url: str) -> None:
    """Entries get seq 1.., link to each other, and an edited row breaks the chain there."""
    stored = store.append([decision(1), decision(2)]) + store.append([decision(3)])
    assert [e.seq for e in stored] == [1, 2, 3]
    assert stored[1].prev_hash == stored[0].hash and stored[2].prev_hash == stored[1].hash
    assert store.head() == (3, stored[2].hash) and store.count() == 3
    assert store.verify().ok and store.verify().checked == 3
    assert [e.call_id for e in store.entries(1)] == ["call-2", "call-3"]
    _tamper(url, "UPDATE entries SET callee = '13900000000' WHERE seq = 2")
    result = store.verify()
    assert not result.ok and result.broken_seq == 2


def test_same_hashes_as_sqlite(store: PgJournalStore, tmp_path: Path) -> None:
    """The same entries get the same seq and hash in both backends (one record schema)."""
    batch = [decision(1), decision(2, T0 + timedelta(seconds=1), Reason.QUIET_HOURS)]
    lite = JournalStore(tmp_path / "j.db")
    assert [e.hash for e in lite.append(batch)] == [e.hash for e in store.append(batch)]
    assert list(lite.entries()) == list(store.entries())
    lite.close()


def test_two_nodes_at_once_lose_nothing(url: str) -> None:
    """Four writers (two per node) append at once: one gapless chain, every entry once."""
    nodes = [PgJournalStore(url), PgJournalStore(url)]
    errors: list[BaseException] = []

    def write(node: PgJournalStore, base: int) -> None:
        try:
            for i in range(25):
                node.append([decision(base + 2 * i), decision(base + 2 * i + 1)])
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(nodes[k % 2], 1000 * k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    entries = list(nodes[0].entries())
    assert [e.seq for e in entries] == list(range(1, 201))
    assert len({e.call_id for e in entries}) == 200
    assert nodes[1].verify().ok
    for node in nodes:
        node.close()


def test_purge_at_the_retention_boundary(store: PgJournalStore) -> None:
    """Older than the cutoff goes, at the cutoff stays; the anchor keeps the chain checkable."""
    now = T0 + timedelta(days=40)
    cutoff = now - timedelta(days=30)
    store.append([decision(1, T0), decision(2, cutoff - timedelta(microseconds=1)),
                  decision(3, cutoff), decision(4, cutoff + timedelta(days=1))])  # fmt: skip
    assert store.purge(now, 30) == 2
    assert [e.call_id for e in store.entries() if e.kind == "decision"] == ["call-3", "call-4"]
    assert store.anchor()[0] == 2
    result = store.verify()
    assert result.ok and result.checked == 3
    assert store.purge(now, 30) == 0  # nothing older is left
    store.append([decision(5, now)])
    assert store.verify().ok


def test_forged_anchor_is_detected(store: PgJournalStore, url: str) -> None:
    """Changing the stored anchor after a purge is reported."""
    store.append([decision(1, T0), decision(2, T0 + timedelta(days=40))])
    store.purge(T0 + timedelta(days=40), 30)
    _tamper(url, "UPDATE meta SET value = '" + "11" * 32 + "' WHERE key = 'anchor_hash'")
    assert not store.verify().ok


def test_queries_match_sqlite(store: PgJournalStore, tmp_path: Path) -> None:
    """calls, select and rules_in_force answer exactly as the SQLite journal does."""
    batch = [decision(1, T0), decision(2, T0 + timedelta(hours=1), Reason.QUIET_HOURS),
             outcome_entry("call-1", T0, T0 + timedelta(minutes=2), 200, "caller"),
             decision(3, T0 + timedelta(hours=2))]  # fmt: skip
    lite = JournalStore(tmp_path / "j.db")
    lite.append(batch)
    store.append(batch)
    for q in (Query(), Query(reason="QUIET_HOURS"), Query(limit=2),
              Query(since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=2))):  # fmt: skip
        assert store.calls(q) == lite.calls(q)
    assert store.calls(Query())[0].outcome is not None
    assert store.select(EntryQuery(kind="outcome")) == lite.select(EntryQuery(kind="outcome"))
    span = (T0, T0 + timedelta(days=1))
    assert store.rules_in_force(*span) == lite.rules_in_force(*span)
    assert store.rules_in_force(*span)[0].decisions == 3
    lite.close()


def test_unreachable_database_is_a_clear_error() -> None:
    """No server on the port: JournalUnavailable('down'), with no password in the message."""
    with pytest.raises(JournalUnavailable) as info:
        PgJournalStore(f"postgresql://u:secret@127.0.0.1:{free_port()}/x", timeout=0.5)
    assert info.value.error == "down" and "secret" not in str(info.value)


def test_recovers_after_the_database_restarts(pg_cluster: PgCluster, url: str) -> None:
    """A write while the server is down fails as 'down'; after it is back, writes succeed
    on the same store, and the chain is whole."""
    store = PgJournalStore(url, timeout=1.0)
    store.append([decision(1)])
    pg_cluster.stop()
    try:
        with pytest.raises(JournalUnavailable) as info:
            store.append([decision(2)])
        assert info.value.error == "down"
    finally:
        pg_cluster.start_again()
    stored = _append_soon(store, decision(3))
    assert stored.seq == 2 and store.verify().ok
    store.close()


def _append_soon(store: PgJournalStore, entry: Entry) -> Entry:
    """Append, allowing the pool a few tries to replace connections the restart broke."""
    for _ in range(20):
        try:
            return store.append([entry])[0]
        except JournalUnavailable:
            threading.Event().wait(0.25)
    return store.append([entry])[0]


def test_commits_wait_for_the_wal_flush(url: str) -> None:
    """Every pooled connection commits with synchronous_commit=on (off only when asked for,
    the service's --sync normal), and a statement cannot hang for ever."""

    def setting(store: PgJournalStore, name: str) -> str:
        return str(store._run(lambda conn: conn.execute(f"SHOW {name}").fetchone()[0]))  # type: ignore[index]

    durable, fast = PgJournalStore(url), PgJournalStore(url, durable=False)
    assert setting(durable, "synchronous_commit") == "on"
    assert setting(fast, "synchronous_commit") == "off"
    assert setting(durable, "statement_timeout") == "30s"
    durable.close()
    fast.close()


def test_verify_reads_one_snapshot_while_others_purge_and_append(url: str) -> None:
    """Verifying while another node purges and appends always sees a whole chain: the anchor
    and the entries come from one snapshot."""
    now = T0 + timedelta(days=40)
    writer, reader = PgJournalStore(url), PgJournalStore(url)
    writer.append([decision(i, T0) for i in range(400)] + [decision(400, now)])
    results: list[bool] = []
    stop = threading.Event()

    def verify_until_stopped() -> None:
        while not stop.is_set() or not results:
            results.append(reader.verify().ok)

    thread = threading.Thread(target=verify_until_stopped)
    thread.start()
    try:
        for i in range(5):
            writer.append([decision(500 + i, now)])
        assert writer.purge(now, 30) == 400
        for i in range(5):
            writer.append([decision(600 + i, now)])
    finally:
        stop.set()
        thread.join(60)
    assert results and all(results), results.count(False)
    writer.close()
    reader.close()
