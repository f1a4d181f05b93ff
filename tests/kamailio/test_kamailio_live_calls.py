"""Real Kamailio with the plugin and sipp on loopback (ports 5460-5479): the From rewrite
through uac, trunk capacity across workers, and forwards verified against the inbound call
Kamailio itself relays (rules 1.1 sections 1, 3 and 5)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import SCENARIOS, Kamailio, reason_headers, sipp, start_kamailio, start_uas, tools_present
from livecalls import write_call_rules

from sipguard.journal import JournalStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not tools_present(), reason="kamailio and sipp are not installed"),
]
PORT, PEERS = 5460, 5470
TARGET = f"127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    rules = write_call_rules(tmp_path_factory.mktemp("kamailio-calls"), port=PEERS, short=1.5)
    k = start_kamailio(rules, PORT, children=4)
    yield k
    k.stop()


def received(work: Path, method: str) -> list[str]:
    """Every ``method`` request the sipp callee in ``work`` received, as text."""
    text = "\n".join(p.read_text(errors="replace") for p in work.glob("uas_rr_*_messages.log"))
    return [m for m in re.split(r"\n(?=-{10,})", text) if f"\n{method} sip:" in m]


def header(message: str, name: str) -> list[str]:
    """Each ``name`` header line, with the space after its colon made one (uac leaves two
    where it removed a display name; both are valid, RFC 3261 HCOLON)."""
    lines = [line.strip() for line in message.splitlines()]
    return [re.sub(r":\s+", ": ", line, count=1) for line in lines if line.startswith(f"{name}:")]


@pytest.mark.parametrize(
    ("caller", "callee", "name"),
    [("4008001234", "13800138000", ""), ("4008005678", "13700137000", '"Acme Care" ')],
)
def test_the_trunks_display_name_never_reaches_the_callee(
    kamailio: Kamailio, caller: str, callee: str, name: str
) -> None:
    """From "ICBC 95588" with PPI and RPID: the callee sees From and PAI with the filed name
    or none, the canonical +CC NSN user, no PPI or RPID; the dialog still ends cleanly."""
    work = kamailio.workdir / f"named-{caller}"
    work.mkdir()
    uas = start_uas("127.0.0.4", PEERS, work, calls=1)
    done = sipp("uac_named.xml", TARGET, "127.0.0.2", 5461, work, "-key", "caller", caller,
                "-key", "display", "ICBC 95588", "-s", callee, "-d", "2000")  # fmt: skip
    uas.wait(15)
    assert done.returncode == 0, done.stdout[-2000:]
    (invite,) = received(work, "INVITE")
    shown = f"{name}<sip:+86{caller}@127.0.0.2>"
    assert header(invite, "From")[0].startswith(f"From: {shown};tag=")
    assert header(invite, "P-Asserted-Identity") == [
        f"P-Asserted-Identity: {name}<tel:+86{caller}>"
    ]
    assert "ICBC" not in invite
    assert header(invite, "P-Preferred-Identity") == header(invite, "Remote-Party-ID") == []
    (bye,) = received(work, "BYE")  # uac puts the new From on the caller's BYE too
    assert header(bye, "From")[0].startswith(f"From: {shown};tag=")


def _pids(k: Kamailio, pattern: str) -> set[str]:
    return {
        line.split("(")[1].split(")")[0]
        for line in k.log.read_text(errors="replace").splitlines()
        if "sipguard: " in line and pattern in line and "(" in line
    }


def test_the_trunk_cap_holds_across_workers(kamailio: Kamailio) -> None:
    """Four held calls at once on a trunk capped at 2, spread over 4 workers: two are
    bridged, two get 503; once they end, the trunk takes calls again."""
    work = kamailio.workdir / "cap"
    work.mkdir()
    uas = start_uas("127.0.0.4", PEERS, work, calls=2)
    done = sipp("uac_hold.xml", TARGET, "127.0.0.2", 5462, work, "-key", "caller",
                "4008001234", "-s", "13900139000", "-d", "2500", "-r", "40", "-l", "4",
                calls=4, timeout=20)  # fmt: skip
    uas.wait(15)
    assert done.returncode == 0, done.stdout[-2000:]
    assert len(received(work, "INVITE")) == 2
    trace = next(work.glob("uac_hold_*_messages.log")).read_text(errors="replace")
    assert trace.count("SIP/2.0 503 Service Unavailable") >= 2
    assert "Retry-After: 5" in trace
    allowed = _pids(kamailio, "-> 13900139000")
    full = _pids(kamailio, "trunk acme-sh-1 is full")
    assert len(allowed | full) >= 2, "the calls should have been handled by several workers"
    again = kamailio.workdir / "cap-after"
    again.mkdir()
    uas = start_uas("127.0.0.4", PEERS, again, calls=1)
    done = sipp("uac_hold.xml", TARGET, "127.0.0.2", 5463, again, "-key", "caller",
                "4008001234", "-s", "13900139000", "-d", "2000")  # fmt: skip
    uas.wait(15)
    assert done.returncode == 0 and len(received(again, "INVITE")) == 1


def _hold_inbound(work: Path) -> subprocess.Popen[str]:
    """An inbound call 13800138000 -> 95123 through Kamailio, held up for 4 s."""
    argv = ["sipp", "-sf", str(SCENARIOS / "uac_hold.xml"), "-i", "127.0.0.4", "-p", "5464",
            "-m", "1", "-key", "caller", "13800138000", "-s", "95123", "-d", "4000",
            "-timeout", "20s", "-timeout_error", "-trace_msg", "-nostdin", TARGET]  # fmt: skip
    return subprocess.Popen(argv, cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip


def test_a_forward_is_verified_against_the_inbound_call_kamailio_relays(
    kamailio: Kamailio,
) -> None:
    """While the user's inbound call is up, the trunk's forward with Diversion is allowed
    and asserts the user's number; after it ended, the same forward is FORWARD_UNVERIFIED."""
    work = kamailio.workdir / "forward"
    work.mkdir()
    trunk_uas = start_uas("127.0.0.2", PEERS, work, calls=1)
    inbound = _hold_inbound(work)
    time.sleep(1.0)
    out = kamailio.workdir / "forward-out"
    out.mkdir()
    callee = start_uas("127.0.0.4", PEERS, out, calls=1)
    done = sipp("uac_forward.xml", TARGET, "127.0.0.2", 5465, out, "-key", "caller",
                "13800138000", "-key", "diverting", "95123", "-s", "13600136000",
                "-d", "500")  # fmt: skip
    callee.wait(15)
    assert done.returncode == 0, done.stdout[-2000:]
    (invite,) = received(out, "INVITE")
    assert header(invite, "P-Asserted-Identity") == ["P-Asserted-Identity: <tel:+8613800138000>"]
    assert inbound.wait(20) == 0
    trunk_uas.wait(15)
    after = kamailio.workdir / "forward-after"
    after.mkdir()
    done = sipp("uac_forward.xml", TARGET, "127.0.0.2", 5466, after, "-key", "caller",
                "13800138000", "-key", "diverting", "95123", "-s", "13600136000")  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert reason_headers(after, "uac_forward.xml") == ['SIP;cause=403;text="FORWARD_UNVERIFIED"']
    rows = [e for e in JournalStore(kamailio.workdir / "journal.db").entries()
            if e.kind == "decision" and e.callee == "13600136000"]  # fmt: skip
    assert [r.reason for r in rows] == ["ALLOWED", "FORWARD_UNVERIFIED"]


def test_kamailio_log_has_no_python_errors(kamailio: Kamailio) -> None:
    """After the calls above, the plugin raised nothing inside Kamailio."""
    text = kamailio.log.read_text(errors="replace")
    assert "Traceback" not in text, text[text.find("Traceback") :][:2000]
