"""Real Kamailio, freshly started: every call's outcome reaches the journal, the first call
after the start included, whichever worker the BYE lands on (ports 5460-5469)."""

from __future__ import annotations

import time

import pytest
from live import sipp, start_kamailio, start_uas, tools_present
from rulesdata import write_rules

from sipguard.journal import JournalStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not tools_present(), reason="kamailio and sipp are not installed"),
]
PORT, UAS_PORT, CALLS = 5460, 5465, 5


def test_every_answered_call_has_its_outcome(tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("kamailio-outcomes")
    k = start_kamailio(write_rules(work, port=UAS_PORT, cap=100), PORT, children=4)
    try:
        uas = start_uas("127.0.0.4", UAS_PORT, work, calls=CALLS)
        done = sipp("uac_call.xml", f"127.0.0.1:{PORT}", "127.0.0.2", 5461, work,
                    "-key", "caller", "4008001234", "-s", "13800138000", "-r", "5",
                    calls=CALLS, timeout=20)  # fmt: skip
        uas.wait(15)
        assert done.returncode == 0, done.stdout[-2000:]
        deadline, outcomes = time.monotonic() + 10, []
        while time.monotonic() < deadline and len(outcomes) < CALLS:
            time.sleep(0.2)
            rows = list(JournalStore(work / "journal.db").entries())
            outcomes = [e for e in rows if e.kind == "outcome"]
        decided = {e.call_id for e in rows if e.kind == "decision" and e.reason == "ALLOWED"}
        assert len(decided) == CALLS
        assert {e.call_id for e in outcomes} == decided
        for e in outcomes:
            assert e.answered_at is not None and e.duration_ms is not None
            assert (e.final_status, e.ended_by) == (200, "caller")
        log = k.log.read_text(errors="replace")
        assert "outcome not journaled" not in log and "Traceback" not in log
    finally:
        k.stop()
