"""Real Kamailio with the plugin: the header allow-list and the refusal phrase, read back from
what sipp peers whose messages name their software received (ports 5440-5459)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import SCENARIOS, Kamailio, sipp, start_kamailio, tools_present
from rulesdata import write_rules

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not tools_present(), reason="kamailio and sipp are not installed"),
]
PORT, UAS_PORT = 5440, 5450
TARGET = f"127.0.0.1:{PORT}"
PEERS = Path(__file__).resolve().parents[1] / "e2e" / "scenarios"
SOFTWARE = {"user-agent", "server", "warning", "organization", "x-internal"}


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    rules = write_rules(tmp_path_factory.mktemp("kamailio-headers"), port=UAS_PORT)
    sip = "sip:\n  relay_headers: [X-Campaign-Id]\n  refusal_phrase: true\n"
    rules.write_text(rules.read_text() + sip)
    k = start_kamailio(rules, PORT, children=2)
    yield k
    k.stop()


def received(workdir: Path, stem: str) -> list[list[str]]:
    """The messages sipp instances of scenario ``stem`` received: start line, headers."""
    found: list[list[str]] = []
    for trace in sorted(workdir.glob(f"{stem}_*_messages.log")):
        for block in trace.read_text(errors="replace").split("-" * 47):
            head, _, rest = block.partition("\n\n")
            if "message received" in head:
                found.append(rest.split("\n\n", 1)[0].strip().splitlines())
    return found


def names(message: list[str]) -> set[str]:
    return {line.split(":", 1)[0].strip().lower() for line in message[1:] if ":" in line}


def test_callee_and_caller_see_only_relayed_headers(kamailio: Kamailio) -> None:
    work = kamailio.workdir / "headers"
    work.mkdir()
    argv = ["sipp", "-sf", str(PEERS / "uas_headers.xml"), "-i", "127.0.0.4", "-p",
            str(UAS_PORT), "-m", "1", "-trace_msg", "-nostdin"]  # fmt: skip
    uas = subprocess.Popen(argv, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = sipp(str(PEERS / "uac_headers.xml"), TARGET, "127.0.0.2", 5441, work,
                    "-key", "caller", "4008001234", "-s", "13600136000")  # fmt: skip
        uas.wait(10)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    assert done.returncode == 0, done.stdout[-2000:]
    at_callee = {m[0].split()[0]: m for m in received(work, "uas_headers")}
    invite, bye = at_callee["INVITE"], at_callee["BYE"]
    assert {"x-campaign-id", "supported", "p-asserted-identity"} <= names(invite)
    assert names(invite).isdisjoint(SOFTWARE) and names(bye).isdisjoint(SOFTWARE)
    answers = [m for m in received(work, "uac_headers") if m[0].split()[1] in ("180", "200")]
    assert len(answers) >= 3, answers  # 180 and 200 to the INVITE, 200 to the BYE
    for answer in answers:
        assert names(answer).isdisjoint(SOFTWARE), answer
    ok = next(m for m in answers if "allow" in names(m))
    assert "x-campaign-id" in names(ok)


def test_a_callee_s_refusal_reaches_the_caller_stripped(kamailio: Kamailio) -> None:
    """A 486 goes back through tm's failure handling: its Server and Warning are gone too."""
    work = kamailio.workdir / "busy"
    work.mkdir()
    argv = ["sipp", "-sf", str(SCENARIOS / "uas_busy_chatty.xml"), "-i", "127.0.0.4", "-p",
            str(UAS_PORT), "-m", "1", "-trace_msg", "-nostdin"]  # fmt: skip
    uas = subprocess.Popen(argv, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = sipp("uac_busy.xml", TARGET, "127.0.0.2", 5443, work,
                    "-key", "caller", "4008001234", "-s", "13800138000")  # fmt: skip
        uas.wait(10)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    assert done.returncode == 0, done.stdout[-2000:]
    (busy,) = [m for m in received(work, "uac_busy") if m[0].startswith("SIP/2.0 486")]
    assert "retry-after" in names(busy) and names(busy).isdisjoint(SOFTWARE)


def test_a_refusal_names_its_reason_in_the_status_line(kamailio: Kamailio) -> None:
    work = kamailio.workdir / "refusal"
    work.mkdir()
    done = sipp("uac_reject.xml", TARGET, "127.0.0.2", 5442, work, "-key", "caller",
                "4008009999", "-s", "13800138000")  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    finals = [m for m in received(work, "uac_reject") if m[0].startswith("SIP/2.0 403")]
    assert finals and {m[0] for m in finals} == {"SIP/2.0 403 Caller Unregistered"}
    assert 'Reason: SIP;cause=403;text="CALLER_UNREGISTERED"' in finals[0]
    assert "server" not in names(finals[0])


def test_kamailio_log_has_no_python_errors(kamailio: Kamailio) -> None:
    text = kamailio.log.read_text(errors="replace")
    assert "sipguard: allow" in text
    assert "Traceback" not in text, text[text.find("Traceback") :][:2000]
