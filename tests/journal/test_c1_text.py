"""Issue C1: text that the parser kept as surrogate-escaped bytes never breaks the journal.

A Call-ID with a raw 0xFF byte reaches the journal as ``"a\\udcffb@x"``.  The record
builders escape it, and a writer that meets any unexpected error fails that batch loudly and
keeps serving; a writer thread that is gone reports itself unhealthy and fails fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sipguard import metrics
from sipguard.journal.entries import decision_entry, outcome_entry, safe_text
from sipguard.journal.record import Entry
from sipguard.journal.store import JournalStore
from sipguard.journal.writer import JournalUnavailable, JournalWriter

from .conftest import T0, decision, facts, verdict

RAW = "a\udcffb@x"


def test_safe_text_escapes_surrogates_and_keeps_plain_text() -> None:
    """Plain text is returned as is; a surrogate-escaped byte becomes a visible escape."""
    assert safe_text("abc@host") == "abc@host"
    assert safe_text("呼叫@主机") == "呼叫@主机"
    assert safe_text(RAW) == "a\\xffb@x"
    assert safe_text("x\ud800y") == "x\\ud800y"
    safe_text(RAW).encode("utf-8")


def test_decision_and_outcome_with_raw_byte_call_id_are_stored(db: Path) -> None:
    """The builders escape the Call-ID, so the entries chain, store and verify."""
    entry = decision_entry(facts(RAW), verdict(), T0, rules_hash="r1")
    end = outcome_entry(RAW, None, T0, 487, "caller")
    assert entry.call_id == end.call_id == "a\\xffb@x"
    store = JournalStore(db)
    stored = store.append([entry, end])
    assert [e.call_id for e in store.entries()] == ["a\\xffb@x", "a\\xffb@x"]
    assert stored[1].seq == 2 and store.verify().ok


def test_writer_survives_an_unencodable_entry(db: Path) -> None:
    """An entry that cannot be encoded fails its own future; the writer goes on."""
    bad = Entry(kind="decision", ts=1, at="1970-01-01T00:00:00+00:00", call_id=RAW)
    with JournalWriter(db) as writer:
        with pytest.raises(JournalUnavailable) as failed:
            writer.submit(bad).result(5)
        assert failed.value.error == "internal"
        assert writer.record(decision(1), timeout=5).seq == 1
        assert writer.healthy


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dead_writer_thread_is_unhealthy_and_fails_fast(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the thread dies anyway, health and the metric say so and submit never hangs."""
    writer = JournalWriter(db)

    def explode(batch: object) -> None:
        raise SystemExit("boom")

    monkeypatch.setattr(writer, "_commit", explode)
    with pytest.raises(JournalUnavailable):
        writer.submit(decision(1)).result(5)
    writer._thread.join(5)
    assert not writer.healthy
    assert metrics.REGISTRY.get_sample_value("sipguard_journal_healthy") == 0
    with pytest.raises(JournalUnavailable):
        writer.submit(decision(2)).result(1)
    writer.close()


INVITE = (
    b"INVITE sip:13800138000@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc1\r\n"
    b"From: <sip:4008001234@198.51.100.7>;tag=1\r\n"
    b"To: <sip:13800138000@192.0.2.1>\r\n"
    b"Call-ID: a\xffb@x\r\n"
    b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def test_parsed_invite_with_raw_byte_call_id_reaches_the_journal_service(db: Path) -> None:
    """The reported INVITE, parsed for real, is journaled through the service, and the
    service still answers the next record."""
    import os

    from sipguard.journal import launch
    from sipguard.journal.client import ServiceClient
    from sipguard.journal.wire import socket_path_for
    from sipguard.screening import facts_from_request
    from sipguard.sip.message import Request
    from sipguard.sip.wire import parse

    request = parse(INVITE)
    assert isinstance(request, Request) and request.call_id == RAW
    entry = decision_entry(facts_from_request(request, "198.51.100.7", 5060), verdict(), T0)
    sock = socket_path_for(db)
    proc = launch.spawn(launch.command(db, watch_pid=os.getpid()), sock)
    try:
        client = ServiceClient(sock)
        assert client.record(entry).call_id == "a\\xffb@x"
        assert client.record(decision(2)).seq == 2
    finally:
        proc.terminate()
        proc.wait(10)
    assert JournalStore(db).verify().ok


def test_a_malformed_entry_with_raw_bytes_is_safe_to_store(tmp_path: Path) -> None:
    """A malformed INVITE's Call-ID and parse error with a raw 0xFF byte store and verify."""
    from datetime import UTC, datetime

    from sipguard.journal.entries import malformed_entry
    from sipguard.journal.store import JournalStore

    entry = malformed_entry("127.0.0.2", 5060, datetime(2026, 6, 1, tzinfo=UTC), status=400,
                            error="bad From 'a\udcffb'", call_id="c\udcff1@x")  # fmt: skip
    store = JournalStore(tmp_path / "journal.db")
    (stored,) = store.append([entry])
    assert stored.call_id == "c\\xff1@x" and "\\\\xff" in (stored.detail or "")
    assert store.verify().ok
