"""The hash chain: canonical form, appends, tamper detection and retention anchors."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from sipguard.journal.entries import decision_entry, outcome_entry, to_ts
from sipguard.journal.record import GENESIS_HASH, link_hash
from sipguard.journal.store import JournalStore, Query
from sipguard.policy.facts import Reason

from .conftest import T0, decision, facts, verdict


def test_entry_hash_is_sha256_of_previous_hash_and_canonical_form() -> None:
    """An entry's hash is sha256 over the previous hash's bytes followed by its canonical JSON."""
    import hashlib

    placed = decision(1).chained(1, GENESIS_HASH)
    expected = hashlib.sha256(bytes(32) + placed.canonical()).hexdigest()
    assert placed.hash == expected == link_hash(GENESIS_HASH, placed.canonical())
    assert b'"hash"' not in placed.canonical() and b'"prev_hash"' not in placed.canonical()


def test_decision_entry_carries_every_field_the_issue_lists() -> None:
    """A decision entry holds time, direction, source, trunk, operator, numbers, verdict, legs."""
    e = decision_entry(facts("a"), verdict(), T0, legs=("a", "b"), rules_hash="h")
    assert (e.at, e.ts) == ("2026-06-01T10:00:00+08:00", to_ts(T0))
    assert (e.direction, e.source, e.trunk, e.operator) == (
        "outbound",
        "192.0.2.10:5060",
        "acme-sh-1",
        "acme",
    )
    assert (e.caller, e.callee, e.number) == ("4008001234", "13800138000", "4008001234")
    assert (e.verdict, e.status, e.reason, e.credential) == ("allow", 0, "ALLOWED", "C-1")
    assert (e.legs, e.rules_hash) == ("a b", "h")


def test_outcome_duration_is_answer_to_end_and_none_when_unanswered() -> None:
    """Duration counts from answer to end in milliseconds; an unanswered call has none."""
    done = outcome_entry("a", T0, T0 + timedelta(seconds=61, milliseconds=5), 200, "callee")
    assert done.duration_ms == 61_005 and done.final_status == 200 and done.ended_by == "callee"
    assert outcome_entry("a", None, T0, 486, "callee").duration_ms is None


def test_appended_entries_link_and_verify(db: Path) -> None:
    """Appends chain entries in sequence from the genesis hash and verify as intact."""
    store = JournalStore(db)
    first = store.append([decision(1), decision(2)])
    second = store.append([decision(3)])
    assert [e.seq for e in first + second] == [1, 2, 3]
    assert first[0].prev_hash == GENESIS_HASH and second[0].prev_hash == first[1].hash
    result = store.verify()
    assert result.ok and result.checked == 3


def test_outcome_joins_its_decision_without_changing_it(db: Path) -> None:
    """A call's outcome is a separate appended entry that queries join to its decision."""
    store = JournalStore(db)
    (d,) = store.append([decision(1)])
    store.append([outcome_entry("call-1", T0, T0 + timedelta(seconds=30), 200, "caller")])
    (row,) = store.calls(Query())
    assert row.decision == d
    assert row.outcome is not None and row.outcome.duration_ms == 30_000
    assert store.verify().ok


def _tamper(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_verify_reports_first_altered_entry(db: Path) -> None:
    """Changing any column of a stored entry breaks the chain at exactly that entry."""
    JournalStore(db).append([decision(i) for i in range(1, 6)])
    _tamper(db, "UPDATE entries SET reason = 'NO_CONSENT', verdict = 'reject' WHERE seq = 3")
    _tamper(db, "UPDATE entries SET caller = '999' WHERE seq = 4")
    result = JournalStore(db).verify()
    assert not result.ok and result.broken_seq == 3 and "content" in result.problem


def test_verify_reports_deleted_entry(db: Path) -> None:
    """Deleting an entry from the middle of the chain is reported at the gap."""
    JournalStore(db).append([decision(i) for i in range(1, 6)])
    _tamper(db, "DELETE FROM entries WHERE seq = 2")
    result = JournalStore(db).verify()
    assert not result.ok and result.broken_seq == 3


def test_verify_reports_rehashed_entry_by_its_successor(db: Path) -> None:
    """An entry rewritten with a fresh self-consistent hash breaks its successor's link."""
    store = JournalStore(db)
    store.append([decision(i) for i in range(1, 4)])
    entries = list(store.entries())
    forged = decision(99).chained(2, entries[0].hash or "")
    _tamper(
        db, f"UPDATE entries SET call_id = '{forged.call_id}', hash = '{forged.hash}' WHERE seq = 2"
    )
    result = JournalStore(db).verify()
    assert not result.ok and result.broken_seq == 3


def test_purge_keeps_exact_boundary_and_chain_stays_verifiable(db: Path) -> None:
    """Purge deletes entries older than retention_days only; one at the cutoff stays."""
    now = T0 + timedelta(days=40)
    cutoff = now - timedelta(days=30)
    store = JournalStore(db)
    store.append(
        [
            decision(1, T0),
            decision(2, cutoff - timedelta(microseconds=1)),
            decision(3, cutoff),
            decision(4, cutoff + timedelta(days=1)),
        ]
    )
    assert store.purge(now, 30) == 2
    kept = [e.call_id for e in store.entries() if e.kind == "decision"]
    assert kept == ["call-3", "call-4"]
    assert store.anchor()[0] == 2
    result = store.verify()
    assert result.ok and result.checked == 3  # two calls plus the purge entry
    store.append([decision(5, now)])
    assert store.verify().ok


def test_purge_never_deletes_past_a_younger_entry(db: Path) -> None:
    """An old entry written after a young one waits: only a chain prefix is ever deleted."""
    now = T0 + timedelta(days=40)
    store = JournalStore(db)
    store.append([decision(1, T0), decision(2, now), decision(3, T0)])
    assert store.purge(now, 30) == 1
    assert [e.call_id for e in store.entries()][:2] == ["call-2", "call-3"]
    assert store.verify().ok


def test_forged_anchor_is_detected(db: Path) -> None:
    """Changing the stored anchor after a purge is reported, since the chain records it."""
    store = JournalStore(db)
    store.append([decision(1, T0), decision(2, T0 + timedelta(days=40))])
    store.purge(T0 + timedelta(days=40), 30)
    _tamper(db, "UPDATE meta SET value = '" + "11" * 32 + "' WHERE key = 'anchor_hash'")
    assert not JournalStore(db).verify().ok


def test_query_filters(db: Path) -> None:
    """Calls can be filtered by number, callee, reason, direction and a half-open time range."""
    store = JournalStore(db)
    store.append(
        [
            decision(1, T0),
            decision(2, T0 + timedelta(hours=1), Reason.QUIET_HOURS),
            decision_entry(facts("x"), verdict(callee="13900139000"), T0 + timedelta(hours=2)),
        ]
    )
    assert len(store.calls(Query(number="4008001234"))) == 3
    assert [r.decision.call_id for r in store.calls(Query(reason="QUIET_HOURS"))] == ["call-2"]
    assert [r.decision.call_id for r in store.calls(Query(callee="13900139000"))] == ["x"]
    window = Query(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
    assert [r.decision.call_id for r in store.calls(window)] == ["call-2"]
    assert store.calls(Query(direction="inbound")) == []
