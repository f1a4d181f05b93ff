"""Real Kamailio, sipp and a real webhook on loopback (ports 5480-5489): answered calls that
hang up after 1 s suspend their number (rules 1.1 section 5), which gives exactly one alert
(section 6)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hookserver import wait_for, webhook_server
from live import Kamailio, reason_headers, sipp, start_kamailio, start_uas, tools_present
from livecalls import write_call_rules

from sipguard.journal import JournalStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not tools_present(), reason="kamailio and sipp are not installed"),
]
PORT, PEERS = 5480, 5488
TARGET = f"127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with webhook_server() as found:
        yield found


@pytest.fixture(scope="module")
def kamailio(
    tmp_path_factory: pytest.TempPathFactory, hook: tuple[str, list[dict[str, Any]]]
) -> Iterator[Kamailio]:
    folder = tmp_path_factory.mktemp("kamailio-short")
    rules = write_call_rules(folder, port=PEERS, short=6, webhook=hook[0], max_calls=4)
    k = start_kamailio(rules, PORT, children=4)
    yield k
    k.stop()


def test_calls_that_hang_up_after_one_second_suspend_the_number(
    kamailio: Kamailio, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    """Three answered 1 s calls (under 6 s, more than 60% of the last 3), ended over several
    workers: the number is suspended once, journaled and alerted once; its next call gets
    NUMBER_SUSPENDED."""
    _, bodies = hook
    work = kamailio.workdir / "short"
    work.mkdir()
    uas = start_uas("127.0.0.4", PEERS, work, calls=3)
    done = sipp("uac_hold.xml", TARGET, "127.0.0.2", 5481, work, "-key", "caller",
                "4008005678", "-s", "13700137000", "-d", "1000", "-l", "1", calls=3,
                timeout=30)  # fmt: skip
    uas.wait(15)
    assert done.returncode == 0, done.stdout[-2000:]
    wait_for(bodies, 1, settle=1.0)
    assert [(b["event"], b["number"], b["reason"]) for b in bodies] == [
        ("number_suspended", "4008005678", "SHORT_CALLS")
    ]
    after = kamailio.workdir / "short-after"
    after.mkdir()
    done = sipp("uac_reject.xml", TARGET, "127.0.0.2", 5482, after, "-key", "caller",
                "4008005678", "-s", "13700137000")  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert reason_headers(after, "uac_reject.xml") == ['SIP;cause=403;text="NUMBER_SUSPENDED"']
    entries = list(JournalStore(kamailio.workdir / "journal.db").entries())
    admin = [(e.action, e.number) for e in entries if e.kind == "admin"]
    assert admin == [("suspend", "4008005678")]
    lasted = [e.duration_ms for e in entries if e.kind == "outcome"]
    assert len(lasted) == 3 and all(d is not None and 900 <= d < 6000 for d in lasted)


def test_kamailio_log_has_no_python_errors(kamailio: Kamailio) -> None:
    """After the calls above, the plugin raised nothing inside Kamailio."""
    text = kamailio.log.read_text(errors="replace")
    assert "Traceback" not in text, text[text.find("Traceback") :][:2000]
