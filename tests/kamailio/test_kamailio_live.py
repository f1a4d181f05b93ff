"""Real Kamailio with the plugin, driven by sipp over loopback (ports 5260-5299)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live import Kamailio, reason_headers, sipp, start_kamailio, start_uas, tools_present
from rulesdata import write_rules

from sipguard.journal import JournalStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not tools_present(), reason="kamailio and sipp are not installed"),
]
PORT = 5260
TARGET = f"127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    rules = write_rules(tmp_path_factory.mktemp("kamailio"), port=5270)
    k = start_kamailio(rules, PORT, children=4)
    yield k
    k.stop()


def journal(k: Kamailio) -> JournalStore:
    return JournalStore(k.workdir / "journal.db")


def test_allowed_outbound_call_is_bridged_with_rewritten_identity(kamailio: Kamailio) -> None:
    """An outbound call on its trunk reaches the network callee with the filed PAI, then ends."""
    work = kamailio.workdir / "outbound"
    work.mkdir()
    uas = start_uas("127.0.0.4", 5270, work, calls=1)
    done = sipp("uac_call.xml", TARGET, "127.0.0.2", 5261, work, "-key", "caller",
                "4008001234", "-s", "13600136000")  # fmt: skip
    uas.wait(10)
    assert done.returncode == 0, done.stdout[-2000:]
    received = next(work.glob("uas_rr_*_messages.log")).read_text()
    assert "P-Asserted-Identity: <tel:+864008001234>" in received
    rows = [e for e in journal(kamailio).entries() if e.callee == "13600136000"]
    assert [(e.kind, e.reason) for e in rows] == [("decision", "ALLOWED")]


def test_allowed_inbound_call_reaches_the_trunk(kamailio: Kamailio) -> None:
    """An inbound call to a filed number is relayed to its trunk's deliver_to and bridged."""
    work = kamailio.workdir / "inbound"
    work.mkdir()
    uas = start_uas("127.0.0.3", 5270, work, calls=1)
    done = sipp("uac_call.xml", TARGET, "127.0.0.4", 5262, work, "-key", "caller",
                "13800138000", "-s", "4006601234")  # fmt: skip
    uas.wait(10)
    assert done.returncode == 0, done.stdout[-2000:]


REJECTIONS = [
    ("127.0.0.9", "4008001234", "13800138000", "403", "UNKNOWN_SOURCE"),
    ("127.0.0.2", "40080012345", "13800138000", "403", "NUMBER_LENGTH_CHANGED"),
    ("127.0.0.2", "4008009999", "13800138000", "403", "CALLER_UNREGISTERED"),
    ("127.0.0.2", "4006601234", "13800138000", "403", "CALLER_NOT_ON_TRUNK"),
    ("127.0.0.2", "95123", "13800138000", "403", "INBOUND_ONLY"),
    ("127.0.0.5", "4001112222", "13500135000", "403", "LICENCE_INVALID"),
    ("127.0.0.4", "13800138000", "12345", "404", "CALLEE_UNREGISTERED"),
    ("127.0.0.4", "13800138000", "4008005678", "403", "CALLEE_NOT_INBOUND"),
]


@pytest.mark.parametrize(("src", "caller", "callee", "status", "reason"), REJECTIONS)
def test_rejections_carry_status_and_reason(
    kamailio: Kamailio, src: str, caller: str, callee: str, status: str, reason: str
) -> None:
    """Each refused INVITE gets its status and Reason header, and its decision is journaled."""
    work = kamailio.workdir / f"reject-{reason}"
    work.mkdir()
    done = sipp("uac_reject.xml", TARGET, src, 5263, work, "-key", "caller", caller,
                "-s", callee)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert reason_headers(work, "uac_reject.xml") == [f'SIP;cause={status};text="{reason}"']
    rows = [e for e in journal(kamailio).entries() if e.reason == reason]
    assert rows and rows[-1].status == int(status)
    assert rows[-1].source is not None and rows[-1].source.startswith(src)


def test_frequency_cap_holds_across_workers(kamailio: Kamailio) -> None:
    """Calls to one callee spread over 4 workers: exactly the cap (2) are allowed."""
    work = kamailio.workdir / "cap"
    work.mkdir()
    uas = start_uas("127.0.0.4", 5270, work, calls=2)
    done = sipp("uac_call.xml", TARGET, "127.0.0.2", 5264, work, "-key", "caller",
                "4008001234", "-s", "13900139000", "-r", "20", calls=6, timeout=10)  # fmt: skip
    uas.wait(10)
    rows = [e for e in journal(kamailio).entries() if e.callee == "13900139000"]
    assert sorted(e.reason for e in rows if e.kind == "decision") == [
        "ALLOWED", "ALLOWED", "FREQUENCY_CAP", "FREQUENCY_CAP", "FREQUENCY_CAP",
        "FREQUENCY_CAP",
    ]  # fmt: skip
    assert done.returncode != 0  # the four refused calls fail the call scenario
    deciders = {
        line.split("(")[1].split(")")[0]
        for line in kamailio.log.read_text(errors="replace").splitlines()
        if "sipguard: " in line and "-> 13900139000" in line
    }
    assert len(deciders) >= 2, "the calls should have been decided by several workers"


def test_kamailio_log_has_no_python_errors(kamailio: Kamailio) -> None:
    """After all the calls above, the plugin raised nothing inside Kamailio."""
    text = kamailio.log.read_text(errors="replace")
    assert "sipguard: allow" in text
    assert "Traceback" not in text, text[text.find("Traceback") :][:2000]
