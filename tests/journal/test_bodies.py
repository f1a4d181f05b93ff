"""The journal service's path from a wire body to a stored row, pinned to the plain one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sipguard.journal.record import Entry, checked_body
from sipguard.journal.service import JournalService
from sipguard.journal.store import JournalStore
from sipguard.journal.wire import body_entry, entry_body

from .conftest import T0, decision
from .test_service import FakeConn


def _entries() -> list[Entry]:
    from sipguard.journal.entries import admin_entry, outcome_entry

    return [
        decision(1),
        outcome_entry("call-1", T0, T0, 200, "caller"),
        admin_entry("suspend", T0, number="4008001234", detail={"why": "测试"}),
        decision(2),
    ]


def test_bodies_are_stored_exactly_as_entries_are(tmp_path: Path) -> None:
    """append_bodies gives the rows, links and chain that append gives for the same
    entries, each hash equal to Entry.chained's."""
    plain, fast = JournalStore(tmp_path / "a.db"), JournalStore(tmp_path / "b.db")
    for _ in range(2):  # from the genesis, then after a head
        stored = plain.append(_entries())
        links = fast.append_bodies([checked_body(entry_body(e)) for e in _entries()])
        assert links == [(e.seq, e.prev_hash, e.hash) for e in stored]
    assert list(fast.entries()) == list(plain.entries())
    assert fast.verify().ok and fast.verify().checked == 8


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],  # too few fields
        [*entry_body(decision(1))[:-1], ["a", "list"]],  # a field cannot hold a list
        [*entry_body(decision(1))[:-1], {"a": 1}],
        [*entry_body(decision(1))[:3], "a\udcffb@x", *entry_body(decision(1))[4:]],
    ],
)
def test_a_body_that_cannot_be_stored_is_refused_alone(db: Path, body: list[Any]) -> None:
    """checked_body refuses what the plain path could not store (body_entry refuses the
    same, or the insert would fail), and the service answers that request alone."""
    with pytest.raises(ValueError):
        checked_body(body)
    service = JournalService(db, schedule=lambda f, d: None)
    conn = FakeConn()
    service.received(conn, [[1, "append", body], [2, "append", entry_body(decision(2))]])  # type: ignore[arg-type]
    service.commit()
    assert [r[:3] for r in conn.replies] == [[1, "error", "request"], [2, "ok", 1]]
    assert [e.call_id for e in JournalStore(db).entries()] == ["call-2"]
    service.close()


def test_a_good_body_is_the_entry_it_carries() -> None:
    """checked_body keeps every field as body_entry reads it."""
    for entry in _entries():
        assert Entry(*checked_body(entry_body(entry))) == body_entry(entry_body(entry)) == entry
