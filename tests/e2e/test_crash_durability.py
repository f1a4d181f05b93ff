"""kill -9 under load loses no record of a call whose caller got a final response."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

from sipguard.journal.store import JournalStore

from .harness import (
    ACME,
    NETWORK,
    Uas,
    free_port,
    serve_in,
    sipguard_command,
    sipp_args,
    start_serve,
)

FINAL = re.compile(r"^FINAL (\S+) (\d{3})$", re.MULTILINE)


def _caller(folder: Path, tag: str, caller: str, rate: int, target: str) -> subprocess.Popen[bytes]:
    """A sipp UAC placing calls at ``rate`` until it stops itself after 6 s."""
    args = sipp_args(
        "uac_final_logged.xml", ACME, free_port(ACME), folder, tag,
        "-key", "caller", caller, "-key", "callee", "13800138000",
        "-r", str(rate), "-timeout", "6s", "-timeout_error", "-recv_timeout", "2000",
    )  # fmt: skip
    return subprocess.Popen([*args, target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_under_load_loses_no_answered_call(tmp_path: Path) -> None:
    """Every call the caller saw decided (403 or 200) is in the journal after a kill -9."""
    served = serve_in(tmp_path)
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, served.net_port)
    target = f"{served.host}:{served.port}"
    callers = [
        _caller(tmp_path, "rejected", "4001112222", 150, target),  # CALLER_UNREGISTERED
        _caller(tmp_path, "bridged", "4008001234", 30, target),  # allowed, answered
    ]
    try:
        time.sleep(3)
        served.proc.send_signal(signal.SIGKILL)
        served.proc.wait(10)
        for proc in callers:
            proc.wait(30)
    finally:
        for proc in callers:
            if proc.poll() is None:
                proc.kill()
        uas.kill()
    seen = {}
    for tag in ("rejected", "bridged"):
        log = tmp_path / f"{tag}.log"
        seen[tag] = dict(FINAL.findall(log.read_text() if log.exists() else ""))
    assert len(seen["rejected"]) > 100, "the load never got going"
    assert set(seen["rejected"].values()) == {"403"}
    assert seen["bridged"] and set(seen["bridged"].values()) == {"200"}

    restarted = start_serve(tmp_path, tmp_path / "rules.yaml", free_port(), 0, 0)
    assert restarted.stop() == 0
    journaled = {e.call_id for e in JournalStore(tmp_path / "journal.db").entries()
                 if e.kind == "decision"}  # fmt: skip
    for tag in ("rejected", "bridged"):
        lost = set(seen[tag]) - journaled
        assert not lost, f"{len(lost)} {tag} calls answered but not journaled: {sorted(lost)[:5]}"
    verify = subprocess.run(
        [*sipguard_command(), "journal", "verify", "--journal", str(tmp_path / "journal.db")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
